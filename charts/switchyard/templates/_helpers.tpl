{{/* Names -------------------------------------------------------------------------------- */}}

{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The resource name prefix. The gateway's traffic Service carries exactly this name, so with the
release name "switchyard" clients call http://switchyard.<namespace>.svc/v1/messages. Kept to 50
characters so suffixes such as "-operator" still fit in 63.
*/}}
{{- define "switchyard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "switchyard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The traffic Service (clients) and the headless admin Service (operator, Prometheus). */}}
{{- define "switchyard.gateway.serviceName" -}}
{{- include "switchyard.fullname" . }}
{{- end }}

{{- define "switchyard.gateway.adminServiceName" -}}
{{- printf "%s-admin" (include "switchyard.fullname" .) }}
{{- end }}

{{- define "switchyard.operator.fullname" -}}
{{- printf "%s-operator" (include "switchyard.fullname" .) }}
{{- end }}

{{- define "switchyard.gateway.serviceAccountName" -}}
{{- if .Values.gateway.serviceAccount.create }}
{{- default (printf "%s-gateway" (include "switchyard.fullname" .)) .Values.gateway.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.gateway.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "switchyard.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "switchyard.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels ------------------------------------------------------------------------------- */}}

{{- define "switchyard.labels" -}}
helm.sh/chart: {{ include "switchyard.chart" . }}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "switchyard.imageTag" . | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: switchyard
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component; call with (dict "root" $ "component" "gateway"). */}}
{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "switchyard.componentLabels" -}}
{{ include "switchyard.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Image ---------------------------------------------------------------------------------- */}}

{{- define "switchyard.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "switchyard.image" -}}
{{- $repo := .Values.image.repository }}
{{- with .Values.image.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (include "switchyard.imageTag" .) }}
{{- end }}
{{- end }}

{{/* Secrets ------------------------------------------------------------------------------- */}}

{{- define "switchyard.adminToken.secretName" -}}
{{- default (printf "%s-admin-token" (include "switchyard.fullname" .)) .Values.adminToken.existingSecret }}
{{- end }}

{{- define "switchyard.adminToken.secretKey" -}}
{{- if .Values.adminToken.existingSecret }}{{ .Values.adminToken.existingSecretKey }}{{ else }}token{{ end }}
{{- end }}

{{/*
The generated admin token, base64-encoded: the one already in the cluster when there is one
(`lookup`), else a new random one. Computed once per render and remembered, so the Secret and
the pods' checksum annotations agree.
*/}}
{{- define "switchyard.adminToken.generated" -}}
{{- $memo := .Values.adminToken }}
{{- if not (hasKey $memo "_generated") }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "switchyard.adminToken.secretName" .) }}
{{- $data := (get $existing "data") | default dict }}
{{- $token := get $data "token" }}
{{- if not $token }}
{{- $token = randAlphaNum 48 | b64enc }}
{{- end }}
{{- $_ := set $memo "_generated" $token }}
{{- end }}
{{- get $memo "_generated" }}
{{- end }}

{{/*
A checksum of the admin token for the pod annotations: when the token changes (a new generated
one, or a rotated existing Secret seen by `lookup`), the gateways and the operator restart
together and agree again. Empty when the value cannot be known (an existing Secret that lookup
cannot see, as in `helm template`).
*/}}
{{- define "switchyard.adminToken.checksum" -}}
{{- if .Values.adminToken.existingSecret }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace .Values.adminToken.existingSecret }}
{{- $value := get ((get $existing "data") | default dict) .Values.adminToken.existingSecretKey }}
{{- if $value }}{{ printf "switchyard-admin-token:%s" $value | sha256sum }}{{ end }}
{{- else }}
{{- printf "switchyard-admin-token:%s" (include "switchyard.adminToken.generated" .) | sha256sum }}
{{- end }}
{{- end }}

{{- define "switchyard.redis.enabled" -}}
{{- if or .Values.redis.existingSecret .Values.redis.url }}true{{ end }}
{{- end }}

{{- define "switchyard.redis.secretName" -}}
{{- default (printf "%s-redis" (include "switchyard.fullname" .)) .Values.redis.existingSecret }}
{{- end }}

{{- define "switchyard.redis.secretKey" -}}
{{- if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretKey }}{{ else }}url{{ end }}
{{- end }}

{{/* Environment shared by both Deployments; call with (dict "root" $ "component" "gateway"). */}}
{{- define "switchyard.commonEnv" -}}
{{- $root := .root -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: SWITCHYARD_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "switchyard.adminToken.secretName" $root }}
      key: {{ include "switchyard.adminToken.secretKey" $root }}
{{- with $root.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $root.Values.otel.protocol | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ if eq $.component "gateway" }}{{ include "switchyard.fullname" $root | quote }}{{ else }}{{ include "switchyard.operator.fullname" $root | quote }}{{ end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME),service.instance.id=$(POD_NAME)"
{{- end }}
{{- with $root.Values.otel.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Topology spread constraints of the gateway: a constraint without a labelSelector gets the
gateway pods' selector labels.
*/}}
{{- define "switchyard.gateway.topologySpreadConstraints" -}}
{{- include "switchyard.topologySpreadConstraints" (dict "root" . "component" "gateway") }}
{{- end }}

{{/* The same for any component; call with (dict "root" $ "component" "operator"). */}}
{{- define "switchyard.topologySpreadConstraints" -}}
{{- $selector := fromYaml (include "switchyard.selectorLabels" (dict "root" .root "component" .component)) }}
{{- $out := list }}
{{- range (index .root.Values .component).topologySpreadConstraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
{{- $out = append $out $c }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/* Value checks that values.schema.json cannot express. */}}
{{- define "switchyard.validate" -}}
{{- $g := .Values.gateway }}
{{- $floor := add $g.drainSeconds $g.preStopSeconds }}
{{- if and (not (kindIs "invalid" $g.terminationGracePeriodSeconds)) (le (int $g.terminationGracePeriodSeconds) (int $floor)) }}
{{- fail (printf "gateway.terminationGracePeriodSeconds (%v) must be greater than gateway.drainSeconds + gateway.preStopSeconds (%v), or in-flight streams are cut" $g.terminationGracePeriodSeconds $floor) }}
{{- end }}
{{- if and $g.autoscaling.enabled (gt (int $g.autoscaling.minReplicas) (int $g.autoscaling.maxReplicas)) }}
{{- fail "gateway.autoscaling.minReplicas must not exceed gateway.autoscaling.maxReplicas" }}
{{- end }}
{{- if and $g.autoscaling.enabled (kindIs "invalid" $g.autoscaling.targetCPUUtilizationPercentage) (kindIs "invalid" $g.autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail "gateway.autoscaling needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" }}
{{- end }}
{{- $pdb := $g.podDisruptionBudget }}
{{- if and $pdb.enabled (kindIs "invalid" $pdb.maxUnavailable) (not (kindIs "string" $pdb.minAvailable)) }}
{{- $pods := ternary $g.autoscaling.minReplicas $g.replicas $g.autoscaling.enabled }}
{{- if ge (int $pdb.minAvailable) (int $pods) }}
{{- fail (printf "gateway.podDisruptionBudget.minAvailable (%v) must be below the gateway's (minimum) replicas (%v), or no node can ever be drained" $pdb.minAvailable $pods) }}
{{- end }}
{{- end }}
{{- $opdb := .Values.operator.podDisruptionBudget }}
{{- if and $opdb.enabled (kindIs "invalid" $opdb.maxUnavailable) (not (kindIs "string" $opdb.minAvailable)) (ge (int $opdb.minAvailable) (int .Values.operator.replicas)) }}
{{- fail (printf "operator.podDisruptionBudget.minAvailable (%v) must be below operator.replicas (%v), or no node can ever be drained" $opdb.minAvailable .Values.operator.replicas) }}
{{- end }}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) }}
{{- fail "httpRoute.parentRefs must name at least one Gateway when httpRoute.enabled" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) }}
{{- fail "ingress.hosts must list at least one host when ingress.enabled" }}
{{- end }}
{{- end }}
