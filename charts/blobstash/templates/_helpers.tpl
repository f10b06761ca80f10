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
# Exactly the verbs the code uses (e2e/audit/rbac.test.ts derives them from a run's audit log).
- apiGroups: ["stash.appscode.com"]
  resources: [backupconfigurations, restoresessions]
  verbs: [get, list, watch]
# The wipeOut finalizer is added and removed with a merge patch.
- apiGroups: ["stash.appscode.com"]
  resources: [repositories]
  verbs: [get, list, watch, patch]
# Scheduled backups create BackupSessions; backupHistoryLimit deletes old ones.
- apiGroups: ["stash.appscode.com"]
  resources: [backupsessions]
  verbs: [get, list, watch, create, delete]
# Status is only ever merge-patched.
- apiGroups: ["stash.appscode.com"]
  resources: [repositories/status, backupconfigurations/status, backupsessions/status, restoresessions/status]
  verbs: [patch]
# Where owner references are enforced (OwnerReferencesPermissionEnforcement, as on OpenShift), owning
# an object with blockOwnerDeletion needs update on its owner's finalizers: sessions own Jobs and
# Secrets, BackupConfigurations own their sessions, Repositories their Snapshots.
- apiGroups: ["stash.appscode.com"]
  resources: [repositories/finalizers, backupconfigurations/finalizers, backupsessions/finalizers, restoresessions/finalizers]
  verbs: [update]
# Storage Secrets are read; per-Job credential Secrets (a minted SAS) are created and deleted.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, delete]
# Jobs are created; a Job whose pod never started is deleted with its session's failure (nothing
# is left behind); a finished session's Job otherwise goes with the session (garbage collection).
# A check or forget Job (controllers/maintenance) is created suspended and unsuspended (patch) when
# the Repository's slot is free; it goes with its ttlSecondsAfterFinished.
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
  verbs: [list, watch]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get]
# Events are written on the stash objects, and read about Job pods that do not start (FailedMount,
# FailedAttachVolume, FailedCreate).
- apiGroups: [""]
  resources: [events]
  verbs: [create, list]
{{- end -}}
