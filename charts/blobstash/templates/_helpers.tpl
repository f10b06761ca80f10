{{- define "blobstash.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "blobstash.serviceAccountName" -}}
{{- default (include "blobstash.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "blobstash.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "blobstash.labels" -}}
{{ include "blobstash.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "blobstash.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The rules the operator needs in a namespace it watches: shared by the ClusterRole and the Roles. */}}
{{- define "blobstash.workloadRules" -}}
- apiGroups: ["stash.appscode.com"]
  resources: [repositories, backupconfigurations, backupsessions, restoresessions]
  verbs: [get, list, watch, update, patch]
- apiGroups: ["stash.appscode.com"]
  resources: [repositories/status, backupconfigurations/status, backupsessions/status, restoresessions/status]
  verbs: [get, update, patch]
- apiGroups: ["stash.appscode.com"]
  resources: [repositories/finalizers, backupsessions/finalizers, restoresessions/finalizers]
  verbs: [update]
# Scheduled backups create BackupSessions; backupHistoryLimit deletes old ones.
- apiGroups: ["stash.appscode.com"]
  resources: [backupsessions]
  verbs: [create, delete]
# Storage Secrets are read; per-Job credential Secrets (a minted SAS) are created and deleted.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, delete]
# patch: a check or forget Job is created suspended and unsuspended when the Repository's slot is free.
- apiGroups: ["batch"]
  resources: [jobs]
  verbs: [get, list, watch, create, delete, patch]
# Snapshot objects mirror what each restic repository holds.
- apiGroups: ["repositories.stash.appscode.com"]
  resources: [snapshots]
  verbs: [get, list, watch, create, patch, delete]
# The Job result is read from the terminated Pod's termination message.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
