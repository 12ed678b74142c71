{{/*
Labels: the kustomize install's (app.kubernetes.io/name and component) plus Helm's own.
Names are fixed, as in the kustomize install: one operator per cluster (its ClusterRole,
peering object and CRDs are cluster-wide).
*/}}
{{- define "modelrollout.labels" -}}
app.kubernetes.io/name: modelrollout
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "modelrollout.operatorLabels" -}}
{{ include "modelrollout.labels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "modelrollout.selector" -}}
app.kubernetes.io/name: modelrollout
app.kubernetes.io/component: operator
{{- end }}

{{- define "modelrollout.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

