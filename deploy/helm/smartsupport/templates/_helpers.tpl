{{/* Names, labels and the parts every pod shares. */}}

{{- define "smartsupport.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "smartsupport.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "smartsupport.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "smartsupport.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: web, worker or migrate. Call with (list $ "web"). */}}
{{- define "smartsupport.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "smartsupport.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "smartsupport.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "smartsupport.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "smartsupport.secretName" -}}
{{- default (include "smartsupport.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "smartsupport.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/* The environment of every smartsupport container. */}}
{{- define "smartsupport.env" -}}
- name: SMARTSUPPORT_DATA_DIR
  value: /data
- name: SMARTSUPPORT_MODELS_DIR
  value: /models
{{- range $name := list "SMARTSUPPORT_DATABASE_URL" "SMARTSUPPORT_REDIS_URL" "SMARTSUPPORT_SECRET_KEY" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "smartsupport.secretName" $ }}
      key: {{ $name }}
{{- end }}
- name: SMARTSUPPORT_EVENTS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "smartsupport.secretName" . }}
      key: SMARTSUPPORT_EVENTS_URL
      optional: true
- name: SMARTSUPPORT_ENCRYPTION_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "smartsupport.secretName" . }}
      key: SMARTSUPPORT_ENCRYPTION_KEYS
      optional: true
{{- range $name, $value := .Values.settings }}
{{- if ne (toString $value) "" }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Writable places under a read-only root filesystem. */}}
{{- define "smartsupport.volumes" -}}
- name: data
  emptyDir: {}
- name: tmp
  emptyDir: {}
- name: models
{{- if .Values.models.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.models.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end }}

{{- define "smartsupport.volumeMounts" -}}
- name: data
  mountPath: /data
- name: tmp
  mountPath: /tmp
- name: models
  mountPath: /models
{{- end }}

{{/* Pod-level settings shared by web, worker and the migration job. */}}
{{- define "smartsupport.podCommon" -}}
serviceAccountName: {{ include "smartsupport.serviceAccountName" . }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  {{- include "smartsupport.volumes" . | nindent 2 }}
{{- end }}
