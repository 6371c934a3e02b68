// A small stand-in for `helm template`, for tests on machines without the helm binary.
//
// It renders a chart with Go's text/template and the sprig function library, as Helm does, and
// provides Helm's own additions: include, tpl, required, fail, toYaml, fromYaml, fromYamlArray,
// toJson, fromJson, fromJsonArray, lookup (answered from an optional file, else empty) and the
// .Values, .Release, .Chart, .Capabilities, .Files and .Template objects. Values files are
// merged the way Helm coalesces them (maps deep-merged, lists replaced, null deletes a key).
//
// It does not validate values against values.schema.json (the jest suite does, with ajv), and it
// does not handle subcharts.
//
// Usage:
//
//	render -chart DIR [-name R] [-namespace NS] [-f values.yaml]... [-lookup objects.json]
//	       [-kube-version v1.31.0] [-api-versions a/v1,b/v1] [-upgrade] [-strict]
//
// Output (stdout): {"manifests": {"templates/x.yaml": "..."}, "notes": "...", "values": {...}}.
// A template error exits 1 with the message on stderr.
//
// Built by the tests in GOPATH mode against Debian's golang-github-masterminds-sprig-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o render render.go
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v2"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	chartDir := flag.String("chart", "", "chart directory")
	name := flag.String("name", "switchyard", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	lookupFile := flag.String("lookup", "", "JSON array of objects that lookup finds")
	kubeVersion := flag.String("kube-version", "v1.31.0", "Capabilities.KubeVersion")
	apiVersions := flag.String("api-versions", "", "extra Capabilities.APIVersions, comma separated")
	upgrade := flag.Bool("upgrade", false, "render as an upgrade (Release.IsUpgrade)")
	strict := flag.Bool("strict", false, "fail on a reference to a missing value, as `helm lint --strict` does")
	var valueFiles multiFlag
	flag.Var(&valueFiles, "f", "values file (repeatable; later files win)")
	flag.Parse()
	if *chartDir == "" {
		fail(errors.New("-chart is required"))
	}
	out, err := render(*chartDir, *name, *namespace, valueFiles, *lookupFile, *kubeVersion, *apiVersions, *upgrade, *strict)
	if err != nil {
		fail(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "Error:", err)
	os.Exit(1)
}

type output struct {
	Manifests map[string]string      `json:"manifests"`
	Notes     string                 `json:"notes"`
	Values    map[string]interface{} `json:"values"`
}

func render(chartDir, name, namespace string, valueFiles []string, lookupFile, kubeVersion, apiVersions string, upgrade, strict bool) (*output, error) {
	chartMeta, err := readYAMLFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	chartName, _ := chartMeta["name"].(string)
	if chartName == "" {
		return nil, errors.New("Chart.yaml: name is required")
	}
	caps, err := capabilities(kubeVersion, apiVersions)
	if err != nil {
		return nil, err
	}
	if kc, _ := chartMeta["kubeVersion"].(string); kc != "" {
		c, err := semver.NewConstraint(kc)
		if err != nil {
			return nil, fmt.Errorf("Chart.yaml kubeVersion: %w", err)
		}
		v, _ := semver.NewVersion(caps.KubeVersion.Version)
		if !c.Check(v) {
			return nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", kc, caps.KubeVersion.Version)
		}
	}

	values, err := readYAMLFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, fmt.Errorf("values.yaml: %w", err)
	}
	for _, f := range valueFiles {
		user, err := readYAMLFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		values = coalesce(user, values)
	}

	files, templates, err := loadChartFiles(chartDir)
	if err != nil {
		return nil, err
	}
	lookups, err := loadLookups(lookupFile)
	if err != nil {
		return nil, err
	}

	revision := 1
	if upgrade {
		revision = 2
	}
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "IsInstall": !upgrade, "IsUpgrade": upgrade,
			"Revision": revision, "Service": "Helm",
		},
		"Chart":        chartObject(chartMeta),
		"Capabilities": caps,
		"Files":        files,
	}

	// One template namespace for the whole chart, as Helm does: every file is parsed under its
	// full name ("<chart>/templates/x.yaml"), so `define`s in any file are visible to `include`.
	var root *template.Template
	funcs := funcMap(&root, lookups)
	missingKey := "missingkey=zero"
	if strict {
		missingKey = "missingkey=error"
	}
	root = template.New("gotpl").Option(missingKey).Funcs(funcs)
	names := make([]string, 0, len(templates))
	for n := range templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		full := path.Join(chartName, n)
		if _, err := root.New(full).Parse(templates[n]); err != nil {
			return nil, err
		}
	}

	out := &output{Manifests: map[string]string{}, Values: values}
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") {
			continue
		}
		full := path.Join(chartName, n)
		data := copyMap(top)
		data["Template"] = map[string]interface{}{"Name": full, "BasePath": path.Join(chartName, "templates")}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, full, data); err != nil {
			return nil, err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if n == "templates/NOTES.txt" {
			out.Notes = text
		} else {
			out.Manifests[n] = text
		}
	}
	return out, nil
}

func copyMap(m map[string]interface{}) map[string]interface{} {
	c := make(map[string]interface{}, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

// funcMap is sprig's (less env/expandenv, as in Helm) plus Helm's own functions.
func funcMap(root **template.Template, lookups map[string]map[string]interface{}) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	includeDepth := map[string]int{}
	f["include"] = func(name string, data interface{}) (string, error) {
		if includeDepth[name] > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		includeDepth[name]++
		defer func() { includeDepth[name]-- }()
		var buf bytes.Buffer
		if err := (*root).ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := (*root).Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	f["toYaml"] = func(v interface{}) string {
		s, err := toYAML(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(s, "\n")
	}
	f["mustToYaml"] = func(v interface{}) (string, error) {
		s, err := toYAML(v)
		return strings.TrimSuffix(s, "\n"), err
	}
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		v, err := parseYAML([]byte(s))
		if err != nil {
			m["Error"] = err.Error()
			return m
		}
		if mm, ok := v.(map[string]interface{}); ok {
			return mm
		}
		return m
	}
	f["fromYamlArray"] = func(s string) []interface{} {
		v, err := parseYAML([]byte(s))
		if err != nil {
			return []interface{}{err.Error()}
		}
		if a, ok := v.([]interface{}); ok {
			return a
		}
		return []interface{}{}
	}
	f["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	f["mustToJson"] = func(v interface{}) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromJsonArray"] = func(s string) []interface{} {
		a := []interface{}{}
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			return []interface{}{err.Error()}
		}
		return a
	}
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		if name == "" {
			items := []interface{}{}
			for _, obj := range lookups {
				if objKey(obj, false) == strings.Join([]string{apiVersion, kind, namespace}, "|") {
					items = append(items, obj)
				}
			}
			return map[string]interface{}{"items": items}, nil
		}
		if obj, ok := lookups[strings.Join([]string{apiVersion, kind, namespace, name}, "|")]; ok {
			return obj, nil
		}
		return map[string]interface{}{}, nil
	}
	return f
}

// toYAML marshals like sigs.k8s.io/yaml (Helm's toYaml): through JSON, so struct tags and
// number formats match, then as YAML with sorted keys.
func toYAML(v interface{}) (string, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var obj interface{}
	if err := yaml.Unmarshal(j, &obj); err != nil {
		return "", err
	}
	b, err := yaml.Marshal(obj)
	return string(b), err
}

// parseYAML reads YAML the way Helm reads values (sigs.k8s.io/yaml): converted to JSON, so maps
// have string keys and every number is a float64.
func parseYAML(b []byte) (interface{}, error) {
	var raw interface{}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	j, err := json.Marshal(jsonable(raw))
	if err != nil {
		return nil, err
	}
	var out interface{}
	if err := json.Unmarshal(j, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func jsonable(v interface{}) interface{} {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, vv := range t {
			m[fmt.Sprint(k)] = jsonable(vv)
		}
		return m
	case []interface{}:
		for i := range t {
			t[i] = jsonable(t[i])
		}
		return t
	default:
		return v
	}
}

func readYAMLFile(p string) (map[string]interface{}, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	v, err := parseYAML(b)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return map[string]interface{}{}, nil
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return nil, errors.New("top level is not a map")
	}
	return m, nil
}

// coalesce merges user values over the chart's defaults as Helm does: maps merge key by key,
// anything else (lists included) is replaced, and a user null deletes the default.
func coalesce(user, defaults map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(defaults))
	for k, v := range defaults {
		out[k] = v
	}
	for k, uv := range user {
		if uv == nil {
			delete(out, k)
			continue
		}
		um, uIsMap := uv.(map[string]interface{})
		dm, dIsMap := out[k].(map[string]interface{})
		if uIsMap && dIsMap {
			out[k] = coalesce(um, dm)
		} else {
			out[k] = uv
		}
	}
	return out
}

// Files is .Files: every chart file outside templates/.
type Files map[string][]byte

func (f Files) Get(name string) string      { return string(f[name]) }
func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Lines(name string) []string {
	s := string(f[name])
	if s == "" {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for n, b := range f {
		if ok, _ := path.Match(pattern, n); ok {
			out[n] = b
		}
	}
	return out
}
func (f Files) AsConfig() string {
	m := map[string]string{}
	for n, b := range f {
		m[path.Base(n)] = string(b)
	}
	s, _ := toYAML(m)
	return strings.TrimSuffix(s, "\n")
}

func loadChartFiles(dir string) (Files, map[string]string, error) {
	files := Files{}
	templates := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			templates[rel] = string(b)
		} else {
			files[rel] = b
		}
		return nil
	})
	return files, templates, err
}

func objKey(obj map[string]interface{}, withName bool) string {
	meta, _ := obj["metadata"].(map[string]interface{})
	parts := []string{fmt.Sprint(obj["apiVersion"]), fmt.Sprint(obj["kind"]), fmt.Sprint(meta["namespace"])}
	if withName {
		parts = append(parts, fmt.Sprint(meta["name"]))
	}
	return strings.Join(parts, "|")
}

func loadLookups(file string) (map[string]map[string]interface{}, error) {
	out := map[string]map[string]interface{}{}
	if file == "" {
		return out, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var objs []map[string]interface{}
	if err := json.Unmarshal(b, &objs); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, o := range objs {
		out[objKey(o, true)] = o
	}
	return out, nil
}

// Chart mirrors the fields of Helm's chart.Metadata that templates use.
func chartObject(meta map[string]interface{}) map[string]interface{} {
	rename := map[string]string{"apiVersion": "APIVersion", "appVersion": "AppVersion", "kubeVersion": "KubeVersion"}
	out := map[string]interface{}{}
	for k, v := range meta {
		if r, ok := rename[k]; ok {
			out[r] = v
		} else if k != "" {
			out[strings.ToUpper(k[:1])+k[1:]] = v
		}
	}
	return out
}

// APIVersions is .Capabilities.APIVersions.
type APIVersions []string

// Has reports whether an apiVersion ("apps/v1") or a resource ("apps/v1/Deployment") is served.
func (a APIVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

func (k KubeVersion) String() string { return k.Version }

// Capabilities is .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions APIVersions
	HelmVersion map[string]string
}

func capabilities(kubeVersion, extra string) (*Capabilities, error) {
	v, err := semver.NewVersion(kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("-kube-version: %w", err)
	}
	versions := APIVersions{
		"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v1", "autoscaling/v2",
		"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "discovery.k8s.io/v1",
		"coordination.k8s.io/v1", "events.k8s.io/v1", "apiextensions.k8s.io/v1",
		"scheduling.k8s.io/v1", "storage.k8s.io/v1",
	}
	for _, x := range strings.Split(extra, ",") {
		if x = strings.TrimSpace(x); x != "" {
			versions = append(versions, x)
		}
	}
	return &Capabilities{
		KubeVersion: KubeVersion{Version: "v" + v.String(), Major: fmt.Sprint(v.Major()), Minor: fmt.Sprint(v.Minor()), GitVersion: "v" + v.String()},
		APIVersions: versions,
		HelmVersion: map[string]string{"Version": "v3.16.0"},
	}, nil
}
