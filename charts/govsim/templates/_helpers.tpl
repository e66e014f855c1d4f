{{/*
Names, labels and small values shared by the templates.
*/}}

{{- define "govsim.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name when it already contains the chart name ("govsim" -> "govsim"),
else "<release>-<chart>". Resources append their role ("govsim-controller").
*/}}
{{- define "govsim.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "govsim.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the life of a release (Deployment selectors are immutable). */}}
{{- define "govsim.selectorLabels" -}}
app.kubernetes.io/name: {{ include "govsim.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "govsim.labels" -}}
helm.sh/chart: {{ include "govsim.chart" . }}
{{ include "govsim.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: govsim
{{- end }}

{{- define "govsim.controllerName" -}}
{{- printf "%s-controller" (include "govsim.fullname" .) }}
{{- end }}

{{- define "govsim.controllerSelectorLabels" -}}
{{ include "govsim.selectorLabels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{/* The image of the controller and of the workers: repository@digest, else repository:tag. */}}
{{- define "govsim.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Default output of sweeps whose spec.output.uri is file:// : s3://<bucket>/<prefix>. */}}
{{- define "govsim.outputUri" -}}
{{- $prefix := trimAll "/" .Values.s3.prefix }}
{{- if $prefix }}
{{- printf "s3://%s/%s" .Values.s3.bucket $prefix }}
{{- else }}
{{- printf "s3://%s" .Values.s3.bucket }}
{{- end }}
{{- end }}

{{/* Namespaces the controller watches: the release namespace, unless it watches all. */}}
{{- define "govsim.rbacKind" -}}
{{- if .Values.controller.watchAllNamespaces }}ClusterRole{{ else }}Role{{ end }}
{{- end }}

{{/* Service account annotations: the IRSA role ARN (when set) plus any extra annotations. */}}
{{- define "govsim.serviceAccountAnnotations" -}}
{{- $annotations := dict }}
{{- if .account.roleArn }}
{{- $_ := set $annotations "eks.amazonaws.com/role-arn" .account.roleArn }}
{{- end }}
{{- range $key, $value := .account.annotations }}
{{- $_ := set $annotations $key $value }}
{{- end }}
{{- if $annotations }}
annotations:
  {{- toYaml $annotations | nindent 2 }}
{{- end }}
{{- end }}

{{/* Service account names: the given names, whether the chart creates the accounts or not. */}}
{{- define "govsim.controllerServiceAccountName" -}}
{{- .Values.serviceAccounts.controller.name }}
{{- end }}

{{- define "govsim.workerServiceAccountName" -}}
{{- .Values.serviceAccounts.worker.name }}
{{- end }}

{{/*
Namespaces where worker pods run, as a JSON list: the release namespace, then
controller.workerNamespaces (which needs controller.watchAllNamespaces).
*/}}
{{- define "govsim.workerNamespaces" -}}
{{- $extra := .Values.controller.workerNamespaces | default list }}
{{- if and $extra (not .Values.controller.watchAllNamespaces) }}
{{- fail "controller.workerNamespaces needs controller.watchAllNamespaces: true (the controller watches only the release namespace otherwise)" }}
{{- end }}
{{- prepend $extra .Release.Namespace | uniq | toJson }}
{{- end }}

{{/*
runAsUser/runAsGroup (and fsGroup with "fsGroup" true) from podSecurity.runAsUser; nothing when it
is null, so the platform assigns the UID (runAsNonRoot is set by each template regardless).
*/}}
{{- define "govsim.runAsIds" -}}
{{- $uid := .root.Values.podSecurity.runAsUser }}
{{- if not (kindIs "invalid" $uid) }}
runAsUser: {{ $uid | int64 }}
runAsGroup: {{ $uid | int64 }}
{{- if .fsGroup }}
fsGroup: {{ $uid | int64 }}
{{- end }}
{{- end }}
{{- end }}
