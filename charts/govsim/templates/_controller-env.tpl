{{/*
The controller's environment: every field of its ControllerConfig (sweep_controller/k8s/config.py,
ControllerConfig.ENV), always present; an empty value means "unset". The controller passes the
worker-side settings on to the Jobs it builds (image, service account, S3 endpoint, region,
addressing and credentials Secret, Pushgateway, resources, scheduling, TTL, Kueue queue, pull
secrets, pod annotations and labels, priority class, deadline, UID).
*/}}
{{- define "govsim.controllerEnv" -}}
- name: HOME
  value: /tmp
- name: TMPDIR
  value: /tmp
- name: GOVSIM_WORKER_IMAGE
  value: {{ include "govsim.image" . | quote }}
- name: GOVSIM_WORKER_IMAGE_PULL_POLICY
  value: {{ .Values.image.pullPolicy | quote }}
- name: GOVSIM_WORKER_SERVICE_ACCOUNT
  value: {{ include "govsim.workerServiceAccountName" . | quote }}
- name: GOVSIM_S3_BUCKET
  value: {{ .Values.s3.bucket | quote }}
- name: GOVSIM_S3_PREFIX
  value: {{ trimAll "/" .Values.s3.prefix | quote }}
- name: GOVSIM_S3_ENDPOINT
  value: {{ .Values.s3.endpoint | quote }}
- name: GOVSIM_S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: GOVSIM_S3_ADDRESSING
  value: {{ .Values.s3.addressing | quote }}
- name: GOVSIM_S3_CREDENTIALS_SECRET
  value: {{ .Values.s3.credentialsSecret | quote }}
- name: GOVSIM_PUSHGATEWAY_URL
  value: {{ .Values.pushgateway.url | quote }}
- name: GOVSIM_PUSHGATEWAY_CLEANUP_GRACE_SECONDS
  value: {{ .Values.pushgateway.cleanupGraceSeconds | int64 | quote }}
- name: GOVSIM_PUSHGATEWAY_CLEANUP_BUDGET_SECONDS
  value: {{ .Values.pushgateway.cleanupBudgetSeconds | int64 | quote }}
- name: GOVSIM_WORKER_RESOURCES
  value: {{ .Values.worker.resources | toJson | quote }}
- name: GOVSIM_WORKER_NODE_SELECTOR
  value: {{ .Values.worker.nodeSelector | toJson | quote }}
- name: GOVSIM_WORKER_TOLERATIONS
  value: {{ .Values.worker.tolerations | toJson | quote }}
- name: GOVSIM_DEFAULT_PARALLELISM
  value: {{ .Values.worker.parallelism | int64 | quote }}
- name: GOVSIM_JOB_TTL_SECONDS
  value: {{ .Values.worker.ttlSecondsAfterFinished | int64 | quote }}
- name: GOVSIM_DEFAULT_QUEUE
  value: {{ .Values.kueue.queueName | quote }}
{{- $pullSecrets := list }}
{{- range .Values.imagePullSecrets }}
{{- $pullSecrets = append $pullSecrets .name }}
{{- end }}
- name: GOVSIM_WORKER_IMAGE_PULL_SECRETS
  value: {{ $pullSecrets | toJson | quote }}
- name: GOVSIM_WORKER_POD_ANNOTATIONS
  value: {{ .Values.worker.podAnnotations | toJson | quote }}
- name: GOVSIM_WORKER_POD_LABELS
  value: {{ .Values.worker.podLabels | toJson | quote }}
- name: GOVSIM_WORKER_PRIORITY_CLASS_NAME
  value: {{ .Values.worker.priorityClassName | quote }}
- name: GOVSIM_WORKER_AFFINITY
  value: {{ .Values.worker.affinity | toJson | quote }}
- name: GOVSIM_WORKER_ACTIVE_DEADLINE_SECONDS
  value: {{ if .Values.worker.activeDeadlineSeconds }}{{ .Values.worker.activeDeadlineSeconds | int64 | quote }}{{ else }}""{{ end }}
- name: GOVSIM_WORKER_RUN_AS_USER
  value: {{ if kindIs "invalid" .Values.podSecurity.runAsUser }}"null"{{ else }}{{ .Values.podSecurity.runAsUser | int64 | quote }}{{ end }}
- name: GOVSIM_POD_CREATION_TIMEOUT_SECONDS
  value: {{ .Values.controller.podCreationTimeoutSeconds | int64 | quote }}
{{- end }}

{{/*
The S3 keys of s3.credentialsSecret (clusters without IRSA, such as kind), exactly as the workers
get them (sweep_controller/k8s/objects.py, worker_env): the controller reads and writes the store
of adaptive sweeps (method optuna) between rounds. Nothing without the value: on EKS the
controller's IRSA role (serviceAccounts.controller.roleArn) grants that access instead.
*/}}
{{- define "govsim.s3CredentialsEnv" -}}
{{- with .Values.s3.credentialsSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: AWS_ACCESS_KEY_ID
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: AWS_SECRET_ACCESS_KEY
{{- end }}
{{- end }}
