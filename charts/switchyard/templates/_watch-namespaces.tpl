{{/*
The namespaces the operator watches, comma-separated; empty for all namespaces.
operator.watchNamespaces, plus the deprecated operator.watchNamespace string folded in.
*/}}
{{- define "switchyard.operator.watchNamespaces" -}}
{{- $list := concat (default (list) .Values.operator.watchNamespaces) (compact (list (default "" .Values.operator.watchNamespace))) | uniq -}}
{{- join "," $list -}}
{{- end -}}

{{/*
What the operator needs where it watches: its custom resources, the Secrets they reference and
Events about them. One Role per watched namespace, or one ClusterRole for all of them.
*/}}
{{- define "switchyard.operator.watchRules" -}}
- apiGroups: [switchyard.dev]
  resources: [modelroutes, apikeys]
  verbs: [list, watch]
- apiGroups: [switchyard.dev]
  resources: [modelroutes/status, apikeys/status]
  verbs: [patch]
# The operator cannot know in advance which Secrets ModelRoutes and ApiKeys will reference;
# set operator.watchNamespaces to confine this to those namespaces.
- apiGroups: [""]
  resources: [secrets]
  verbs: [list, watch]
# Warning Events about rejected objects, in the objects' own namespaces.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create]
{{- end -}}
