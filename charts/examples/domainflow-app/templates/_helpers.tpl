{{- define "app.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "app.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "app.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The SchemaMigration this release creates (stable across revisions). */}}
{{- define "app.migrationName" -}}
{{- printf "%s-schema" (include "app.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "app.waitName" -}}
{{- printf "%s-schema-wait" (include "app.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "app.schemaflowImage" -}}
{{- printf "%s:%s" .Values.schemaflow.image.repository .Values.schemaflow.image.tag }}
{{- end }}
