{{/*
Names and labels.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "qbsync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name every resource name starts with: <release>-<chart>, or fullnameOverride. */}}
{{- define "qbsync.fullname" -}}
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

{{/* A component's resource name. Call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "qbsync.componentName" -}}
{{- printf "%s-%s" (include "qbsync.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Chart name and version, as used by the helm.sh/chart label. */}}
{{- define "qbsync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select a component's pods. Call with (dict "ctx" $ "component" "worker"). */}}
{{- define "qbsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "qbsync.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/* Every resource's labels. Call with (dict "ctx" $ "component" "worker"); component may be "". */}}
{{- define "qbsync.labels" -}}
helm.sh/chart: {{ include "qbsync.chart" .ctx }}
{{ include "qbsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: qbsync
{{- end }}

{{/* The ServiceAccount the worker and gateway pods run as. */}}
{{- define "qbsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "qbsync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount the migration hook runs as. A pre-install hook runs before the release's
ordinary resources exist, so a chart-created ServiceAccount is not there yet: the chart then
creates a hook-scoped one (templates/migration-serviceaccount.yaml).
*/}}
{{- define "qbsync.migrationServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- include "qbsync.componentName" (dict "ctx" . "component" "migration") }}
{{- else }}
{{- include "qbsync.serviceAccountName" . }}
{{- end }}
{{- end }}

{{/* repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "qbsync.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Checks the schema cannot express. Included by the ConfigMap, which is always rendered.
*/}}
{{- define "qbsync.validate" -}}
{{- $_ := required "config.kafka.bootstrapServers is required (an empty value would make every pod start its own embedded broker)" .Values.config.kafka.bootstrapServers }}
{{- if and .Values.worker.enabled (gt (int .Values.worker.replicas) (int .Values.config.topics.eventsPartitions)) }}
{{- fail (printf "worker.replicas (%d) exceeds config.topics.eventsPartitions (%d): the extra workers would get no partition" (int .Values.worker.replicas) (int .Values.config.topics.eventsPartitions)) }}
{{- end }}
{{- $reserved := list "QBSYNC_KAFKA_BOOTSTRAP_SERVERS" "QBSYNC_KAFKA_SECURITY_PROTOCOL" "QBSYNC_KAFKA_SASL_MECHANISM" "QBSYNC_KAFKA_SASL_USERNAME" "QBSYNC_KAFKA_SASL_PASSWORD" "QBSYNC_DATABASE_URL" "QBSYNC_TOPIC_PREFIX" "QBSYNC_TOPIC_EVENTS_PARTITIONS" "QBSYNC_TOPIC_RESULTS_PARTITIONS" "QBSYNC_GATEWAY_PUBLIC_URL" "QBSYNC_GATEWAY_BATCH_SIZE" "QBSYNC_GATEWAY_THREADS" "QBSYNC_GATEWAY_PROCESSES" "QBSYNC_DATA_DIR" "QBSYNC_WORKER_WEB_PORT" }}
{{- range $key, $_ := .Values.config.extraEnv }}
{{- if has $key $reserved }}
{{- fail (printf "config.extraEnv.%s is set by the chart from its own value (or from the Secret); set that instead" $key) }}
{{- end }}
{{- end }}
{{- end }}

{{/* QBSYNC_GATEWAY_PUBLIC_URL: as configured, else derived from the Ingress host. */}}
{{- define "qbsync.gatewayPublicUrl" -}}
{{- if .Values.config.gateway.publicUrl }}
{{- .Values.config.gateway.publicUrl }}
{{- else if and .Values.gateway.enabled .Values.gateway.ingress.enabled }}
{{- printf "https://%s/qbwc" .Values.gateway.ingress.host }}
{{- end }}
{{- end }}

{{/*
The non-secret settings as a YAML map of environment variables: the ConfigMap's data, and
the migration hook's env (the hook runs before the ConfigMap exists on a first install).
*/}}
{{- define "qbsync.configData" -}}
QBSYNC_KAFKA_BOOTSTRAP_SERVERS: {{ .Values.config.kafka.bootstrapServers | quote }}
QBSYNC_KAFKA_SECURITY_PROTOCOL: {{ .Values.config.kafka.securityProtocol | quote }}
QBSYNC_KAFKA_SASL_MECHANISM: {{ .Values.config.kafka.saslMechanism | quote }}
QBSYNC_KAFKA_SASL_USERNAME: {{ .Values.config.kafka.saslUsername | quote }}
QBSYNC_TOPIC_PREFIX: {{ .Values.config.topics.prefix | quote }}
QBSYNC_TOPIC_EVENTS_PARTITIONS: {{ .Values.config.topics.eventsPartitions | int | quote }}
QBSYNC_TOPIC_RESULTS_PARTITIONS: {{ .Values.config.topics.eventsPartitions | int | quote }}
QBSYNC_GATEWAY_PUBLIC_URL: {{ include "qbsync.gatewayPublicUrl" . | quote }}
QBSYNC_GATEWAY_BATCH_SIZE: {{ .Values.config.gateway.batchSize | int | quote }}
QBSYNC_GATEWAY_THREADS: {{ .Values.config.gateway.threads | int | quote }}
QBSYNC_GATEWAY_PROCESSES: {{ .Values.config.gateway.processes | int | quote }}
QBSYNC_DATA_DIR: {{ .Values.config.dataDir | quote }}
QBSYNC_DATABASE_POOL_SIZE: {{ .Values.config.database.poolSize | int | quote }}
QBSYNC_DATABASE_MAX_OVERFLOW: {{ .Values.config.database.maxOverflow | int | quote }}
{{- with .Values.config.kafka.tls }}
{{- if .existingSecret }}
{{- if .caKey }}
QBSYNC_KAFKA_SSL_CA_LOCATION: {{ printf "/etc/qbsync/kafka-tls/%s" .caKey | quote }}
{{- end }}
{{- if .certificateKey }}
QBSYNC_KAFKA_SSL_CERTIFICATE_LOCATION: {{ printf "/etc/qbsync/kafka-tls/%s" .certificateKey | quote }}
{{- end }}
{{- if .keyKey }}
QBSYNC_KAFKA_SSL_KEY_LOCATION: {{ printf "/etc/qbsync/kafka-tls/%s" .keyKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- range $key, $value := .Values.config.extraEnv }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* The secret settings, each a secretKeyRef into the existing Secret (an env list). */}}
{{- define "qbsync.secretEnv" -}}
- name: QBSYNC_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.existingSecret }}
      key: {{ .Values.secrets.databaseUrlKey }}
{{- if .Values.config.kafka.saslMechanism }}
- name: QBSYNC_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.existingSecret }}
      key: {{ .Values.secrets.kafkaSaslPasswordKey }}
{{- end }}
{{- with .Values.config.kafka.tls }}
{{- if and .existingSecret .keyPasswordKey }}
- name: QBSYNC_KAFKA_SSL_KEY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .keyPasswordKey }}
{{- end }}
{{- end }}
{{- if .Values.secrets.schemaRegistryUserInfoKey }}
- name: QBSYNC_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.existingSecret }}
      key: {{ .Values.secrets.schemaRegistryUserInfoKey }}
{{- end }}
{{- end }}

{{/* Pod-level security context. */}}
{{- define "qbsync.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context. */}}
{{- define "qbsync.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
{{- end }}

{{/* Writable scratch space: the root filesystem is read-only. */}}
{{- define "qbsync.volumes" -}}
- name: data
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- with .Values.config.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "qbsync.volumeMounts" -}}
- name: data
  mountPath: {{ .Values.config.dataDir }}
- name: tmp
  mountPath: /tmp
{{- if .Values.config.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/qbsync/kafka-tls
  readOnly: true
{{- end }}
{{- end }}

{{/* Shared pod-spec fields: pull secrets, security context. */}}
{{- define "qbsync.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- include "qbsync.podSecurityContext" . | nindent 2 }}
{{- end }}

{{/*
Placement. Call with (dict "ctx" $ "component" "gateway" "scheduling" .Values.gateway.scheduling).
A topologySpreadConstraint without a labelSelector gets the component's selector labels.
*/}}
{{- define "qbsync.scheduling" -}}
{{- with .scheduling.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .scheduling.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .scheduling.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .scheduling.topologySpreadConstraints }}
{{- $selector := include "qbsync.selectorLabels" (dict "ctx" .ctx "component" .component) | fromYaml }}
{{- $constraints := list }}
{{- range .scheduling.topologySpreadConstraints }}
{{- $constraint := deepCopy . }}
{{- if not (hasKey $constraint "labelSelector") }}
{{- $_ := set $constraint "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
{{- $constraints = append $constraints $constraint }}
{{- end }}
topologySpreadConstraints:
  {{- toYaml $constraints | nindent 2 }}
{{- end }}
{{- end }}

{{/* Prometheus scrape annotations for a pod. Call with (dict "port" 8080). */}}
{{- define "qbsync.scrapeAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | int | quote }}
prometheus.io/path: /metrics
{{- end }}

{{/*
The QBO app's redirect URI (the sender's /qbo/callback): qbo.redirectUri, else derived from
the sender's Ingress. The sender and the console's "Connect to QuickBooks" both name it.
*/}}
{{- define "qbsync.qboRedirectUri" -}}
{{- $qbo := .Values.qbo -}}
{{- if $qbo.redirectUri -}}
{{- $qbo.redirectUri -}}
{{- else if $qbo.ingress.enabled -}}
{{- printf "https://%s/qbo/callback" $qbo.ingress.host -}}
{{- else -}}
{{- fail "qbo.redirectUri is required when the QBO sender is enabled without its Ingress" -}}
{{- end -}}
{{- end -}}
