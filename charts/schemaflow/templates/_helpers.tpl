{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "schemaflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: <release>-schemaflow unless the release name contains it. */}}
{{- define "schemaflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "schemaflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades. */}}
{{- define "schemaflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "schemaflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "schemaflow.labels" -}}
helm.sh/chart: {{ include "schemaflow.chart" . }}
{{ include "schemaflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: schemaflow
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "schemaflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "schemaflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image: repository[:tag][@digest]; tag defaults to the appVersion. */}}
{{- define "schemaflow.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Namespaces the operator watches in namespaced mode (default: the release's). */}}
{{- define "schemaflow.watchNamespaces" -}}
{{- $ns := .Values.operator.watchNamespaces | default (list .Release.Namespace) }}
{{- toJson (uniq $ns) }}
{{- end }}

{{/* kopf peering is on when more than one replica runs. */}}
{{- define "schemaflow.peeringEnabled" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{- end }}
{{- end }}

{{- define "schemaflow.peeringName" -}}
{{- default (include "schemaflow.fullname" .) .Values.peering.name }}
{{- end }}

{{/* The rule files under files/alerts/, runbook links pointed at monitoring.runbookBaseURL. */}}
{{- define "schemaflow.alertRules" -}}
{{- $default := "https://github.com/domainflow/schemaflow/blob/main/docs/runbooks" }}
{{- $base := trimSuffix "/" .Values.monitoring.runbookBaseURL }}
{{- $rules := list }}
{{- range $path, $_ := .Files.Glob "files/alerts/*.yaml" }}
{{- $rule := $.Files.Get $path | replace $default $base | fromYaml }}
{{- if not (has $rule.alert $.Values.monitoring.disabledAlerts) }}
{{- $rules = append $rules $rule }}
{{- end }}
{{- end }}
{{- toJson (dict "rules" $rules) }}
{{- end }}

{{/* The bind address as a URL host (IPv6 in brackets). */}}
{{- define "schemaflow.bindHost" -}}
{{- $a := .Values.operator.bindAddress -}}
{{- if contains ":" $a -}}[{{ $a }}]{{- else -}}{{ $a }}{{- end -}}
{{- end }}
