{{/*
Expand the name of the chart.
*/}}
{{- define "booking-saas.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name, truncated to 63 characters (DNS label limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "booking-saas.fullname" -}}
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

{{/*
A component's resource name: <fullname>-<component>, the fullname shortened so the whole fits 63.
Usage: include "booking-saas.componentName" (list . "operator")
*/}}
{{- define "booking-saas.componentName" -}}
{{- $ctx := index . 0 }}
{{- $component := index . 1 }}
{{- $base := include "booking-saas.fullname" $ctx | trunc (int (sub 62 (len $component))) | trimSuffix "-" }}
{{- printf "%s-%s" $base $component }}
{{- end }}

{{/*
Chart name and version as used by the chart label.
*/}}
{{- define "booking-saas.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "booking-saas.labels" -}}
helm.sh/chart: {{ include "booking-saas.chart" . }}
{{ include "booking-saas.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: booking-saas
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "booking-saas.selectorLabels" -}}
app.kubernetes.io/name: {{ include "booking-saas.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels and selector labels of one component. Usage: include "booking-saas.componentLabels" (list . "operator")
*/}}
{{- define "booking-saas.componentLabels" -}}
{{ include "booking-saas.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "booking-saas.componentSelectorLabels" -}}
{{ include "booking-saas.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/*
The operator's ServiceAccount name.
*/}}
{{- define "booking-saas.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "booking-saas.componentName" (list . "operator")) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The webhook's (and sales bot's) ServiceAccount name.
*/}}
{{- define "booking-saas.webhookServiceAccountName" -}}
{{- if .Values.webhook.serviceAccount.create }}
{{- default (include "booking-saas.componentName" (list . "webhook")) .Values.webhook.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.webhook.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference of one of the platform's own images: [imageRegistry/]repository:tag, the tag
defaulting to the chart's appVersion (the release workflow pushes exactly that).
Usage: include "booking-saas.image" (list . .Values.operator.image)
*/}}
{{- define "booking-saas.image" -}}
{{- $root := index . 0 }}
{{- $image := index . 1 }}
{{- $repository := $image.repository }}
{{- with $root.Values.imageRegistry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- printf "%s:%s" $repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}

{{/* Namespace where paid tenants are created by the webhook. */}}
{{- define "booking-saas.tenantNamespace" -}}
{{- default (default .Release.Namespace .Values.operator.watchNamespace) .Values.webhook.tenantNamespace }}
{{- end }}

{{/* Namespace of the bot tokens the webhook writes: nothing but those tokens lives there. */}}
{{- define "booking-saas.tokenNamespace" -}}
{{- default (printf "%s-tokens" .Release.Namespace | trunc 63 | trimSuffix "-") .Values.webhook.tokenNamespace }}
{{- end }}

{{/* The namespace the operator watches: empty only with operator.clusterWide. */}}
{{- define "booking-saas.watchNamespace" -}}
{{- if not .Values.operator.clusterWide }}{{ default .Release.Namespace .Values.operator.watchNamespace }}{{ end }}
{{- end }}

{{/* ---------------------------------------------------------------- PostgreSQL */}}

{{- define "booking-saas.postgresql.fullname" -}}
{{- include "booking-saas.componentName" (list . "postgresql") }}
{{- end }}

{{- define "booking-saas.pgbouncer.fullname" -}}
{{- include "booking-saas.componentName" (list . "pgbouncer") }}
{{- end }}

{{/* The Secret that holds the database passwords (generated, existing, or external). */}}
{{- define "booking-saas.database.secretName" -}}
{{- if .Values.postgresql.enabled }}
{{- default (include "booking-saas.postgresql.fullname" .) .Values.postgresql.existingSecret }}
{{- else }}
{{- required "externalDatabase.existingSecret is required when postgresql.enabled is false" .Values.externalDatabase.existingSecret }}
{{- end }}
{{- end }}

{{/*
In-cluster hosts are namespace-qualified (<service>.<namespace>.svc): tenant bots run in their
tenants' namespaces, not in the release namespace.
*/}}
{{- define "booking-saas.database.host" -}}
{{- if .Values.postgresql.enabled }}
{{- printf "%s.%s.svc" (include "booking-saas.postgresql.fullname" .) .Release.Namespace }}
{{- else }}
{{- required "externalDatabase.host is required when postgresql.enabled is false" .Values.externalDatabase.host }}
{{- end }}
{{- end }}

{{- define "booking-saas.database.port" -}}
{{- if .Values.postgresql.enabled }}5432{{ else }}{{ .Values.externalDatabase.port }}{{ end }}
{{- end }}

{{- define "booking-saas.database.name" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.database }}{{ else }}{{ .Values.externalDatabase.database }}{{ end }}
{{- end }}

{{- define "booking-saas.database.sslmode" -}}
{{- if .Values.postgresql.enabled }}disable{{ else }}{{ .Values.externalDatabase.sslmode }}{{ end }}
{{- end }}

{{- define "booking-saas.database.operatorUser" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.operatorUser }}{{ else }}{{ .Values.externalDatabase.operatorUser }}{{ end }}
{{- end }}

{{- define "booking-saas.database.webhookUser" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.webhookUser }}{{ else }}{{ .Values.externalDatabase.webhookUser }}{{ end }}
{{- end }}

{{- define "booking-saas.database.pgbouncerAuthUser" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.pgbouncerAuthUser }}{{ else }}{{ .Values.externalDatabase.pgbouncerAuthUser }}{{ end }}
{{- end }}

{{- define "booking-saas.database.operatorPasswordKey" -}}
{{- if .Values.postgresql.enabled }}operator-password{{ else }}{{ .Values.externalDatabase.operatorPasswordKey }}{{ end }}
{{- end }}

{{- define "booking-saas.database.webhookPasswordKey" -}}
{{- if .Values.postgresql.enabled }}webhook-password{{ else }}{{ .Values.externalDatabase.webhookPasswordKey }}{{ end }}
{{- end }}

{{- define "booking-saas.database.pgbouncerPasswordKey" -}}
{{- if .Values.postgresql.enabled }}pgbouncer-password{{ else }}{{ .Values.externalDatabase.pgbouncerPasswordKey }}{{ end }}
{{- end }}

{{/*
A DSN whose password is the environment variable $(VAR) (Kubernetes expands it from a
secretKeyRef declared earlier in the same container): no secret is ever written into the
pod spec. Usage: include "booking-saas.database.url" (list . "USER" "PASSWORD_VAR")
*/}}
{{- define "booking-saas.database.url" -}}
{{- $ctx := index . 0 }}
{{- printf "postgresql://%s:$(%s)@%s:%s/%s?sslmode=%s" (index . 1) (index . 2) (include "booking-saas.database.host" $ctx) (include "booking-saas.database.port" $ctx) (include "booking-saas.database.name" $ctx) (include "booking-saas.database.sslmode" $ctx) }}
{{- end }}

{{/* Where the tenant bots connect: PgBouncer when enabled, else the database itself. */}}
{{- define "booking-saas.tenantDatabase.host" -}}
{{- if .Values.pgbouncer.enabled }}{{ printf "%s.%s.svc" (include "booking-saas.pgbouncer.fullname" .) .Release.Namespace }}{{ else }}{{ include "booking-saas.database.host" . }}{{ end }}
{{- end }}

{{- define "booking-saas.tenantDatabase.port" -}}
{{- if .Values.pgbouncer.enabled }}5432{{ else }}{{ include "booking-saas.database.port" . }}{{ end }}
{{- end }}

{{/* ---------------------------------------------------------------- Redis */}}

{{- define "booking-saas.redis.fullname" -}}
{{- include "booking-saas.componentName" (list . "redis") }}
{{- end }}

{{- define "booking-saas.redis.secretName" -}}
{{- if .Values.redis.enabled }}
{{- default (include "booking-saas.redis.fullname" .) .Values.redis.existingSecret }}
{{- else }}
{{- required "externalRedis.existingSecret is required when redis.enabled is false" .Values.externalRedis.existingSecret }}
{{- end }}
{{- end }}

{{- define "booking-saas.redis.passwordKey" -}}
{{- if .Values.redis.enabled }}redis-password{{ else }}{{ .Values.externalRedis.passwordKey }}{{ end }}
{{- end }}

{{/* Redis URL without credentials: what the bots are told (the operator injects their ACL user). */}}
{{- define "booking-saas.redis.url" -}}
{{- if .Values.redis.enabled }}
{{- printf "redis://%s.%s.svc:6379/0" (include "booking-saas.redis.fullname" .) .Release.Namespace }}
{{- else }}
{{- printf "%s://%s:%v/0" (ternary "rediss" "redis" .Values.externalRedis.tls) (required "externalRedis.host is required when redis.enabled is false" .Values.externalRedis.host) .Values.externalRedis.port }}
{{- end }}
{{- end }}

{{/* The operator's admin Redis URL, its password the environment variable $(REDIS_PASSWORD). */}}
{{- define "booking-saas.redis.adminUrl" -}}
{{- if .Values.redis.enabled }}
{{- printf "redis://default:$(REDIS_PASSWORD)@%s.%s.svc:6379/0" (include "booking-saas.redis.fullname" .) .Release.Namespace }}
{{- else }}
{{- printf "%s://%s:$(REDIS_PASSWORD)@%s:%v/0" (ternary "rediss" "redis" .Values.externalRedis.tls) .Values.externalRedis.username .Values.externalRedis.host .Values.externalRedis.port }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------- Webhook */}}

{{- define "booking-saas.webhook.secretName" -}}
{{- required "webhook.existingSecret is required (a Secret with YOOKASSA_SHOP_ID and YOOKASSA_SECRET_KEY) when webhook.enabled or salesBot.enabled is true; see NOTES/README" .Values.webhook.existingSecret }}
{{- end }}

{{/*
The environment the webhook and the sales bot share.
*/}}
{{- define "booking-saas.webhook.env" -}}
- name: YOOKASSA_SHOP_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "booking-saas.webhook.secretName" . }}
      key: YOOKASSA_SHOP_ID
- name: YOOKASSA_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "booking-saas.webhook.secretName" . }}
      key: YOOKASSA_SECRET_KEY
- name: SALES_BOT_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "booking-saas.webhook.secretName" . }}
      key: SALES_BOT_TOKEN
      optional: {{ not .Values.salesBot.enabled }}
- name: DB_WEBHOOK_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "booking-saas.database.secretName" . }}
      key: {{ include "booking-saas.database.webhookPasswordKey" . }}
- name: WEBHOOK_DATABASE_URL
  value: {{ include "booking-saas.database.url" (list . (include "booking-saas.database.webhookUser" .) "DB_WEBHOOK_PASSWORD") | quote }}
- name: YOOKASSA_API_URL
  value: {{ .Values.webhook.yookassaApiUrl | quote }}
- name: YOOKASSA_TEST_SHOP
  value: {{ .Values.webhook.testShop | quote }}
- name: YOOKASSA_RECEIPT_ENABLED
  value: {{ .Values.webhook.receiptEnabled | quote }}
- name: YOOKASSA_VAT_CODE
  value: {{ .Values.webhook.receiptVatCode | quote }}
- name: YOOKASSA_RECEIPT_PAYMENT_SUBJECT
  value: {{ .Values.webhook.receiptPaymentSubject | quote }}
- name: YOOKASSA_RECEIPT_PAYMENT_MODE
  value: {{ .Values.webhook.receiptPaymentMode | quote }}
{{- with .Values.webhook.taxSystemCode }}
- name: YOOKASSA_TAX_SYSTEM_CODE
  value: {{ . | quote }}
{{- end }}
- name: SALES_AUTORENEWAL
  value: {{ .Values.salesBot.autoRenewal | quote }}
- name: WEBHOOK_RECONCILE_INTERVAL
  value: {{ .Values.webhook.reconcileInterval | quote }}
- name: WEBHOOK_RECONCILE_LOOKBACK_HOURS
  value: {{ .Values.webhook.reconcileLookbackHours | quote }}
- name: PORT
  value: {{ .Values.webhook.port | quote }}
- name: PUBLIC_URL
  value: {{ .Values.webhook.publicUrl | quote }}
- name: TENANT_NAMESPACE
  value: {{ include "booking-saas.tenantNamespace" . | quote }}
- name: TOKEN_NAMESPACE
  value: {{ include "booking-saas.tokenNamespace" . | quote }}
- name: WEBHOOK_TRUSTED_PROXIES
  value: {{ join "," .Values.webhook.trustedProxies | quote }}
- name: WEBHOOK_EXTRA_SOURCE_NETWORKS
  value: {{ join "," .Values.webhook.extraSourceNetworks | quote }}
{{- with .Values.webhook.plans }}
- name: PLANS
  value: {{ toJson . | quote }}
{{- end }}
{{- with .Values.operator.telegramApiUrl }}
- name: TELEGRAM_API_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.webhook.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
