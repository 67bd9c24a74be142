{{/*
Chart name, cut to 63 characters: Kubernetes names and label values are
DNS-1123 labels.
*/}}
{{- define "ws-close-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart> (or the release name alone when it already holds
the chart name), cut to 63 characters.
*/}}
{{- define "ws-close-agent.fullname" -}}
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
Name of a secondary resource: the full name cut short enough that
"-<suffix>" still fits in 63 characters, so two suffixes never collide.
Call with (dict "ctx" $ "suffix" "metrics").
*/}}
{{- define "ws-close-agent.suffixedName" -}}
{{- $room := sub 62 (len .suffix) | int }}
{{- printf "%s-%s" (include "ws-close-agent.fullname" .ctx | trunc $room | trimSuffix "-") .suffix }}
{{- end }}

{{- define "ws-close-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: immutable on a Deployment, so nothing that changes between
releases goes here.
*/}}
{{- define "ws-close-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ws-close-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ws-close-agent.labels" -}}
helm.sh/chart: {{ include "ws-close-agent.chart" . }}
{{ include "ws-close-agent.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ws-close-agent
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "ws-close-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ws-close-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ws-close-agent.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/*
Does the cluster serve the Prometheus Operator CRDs? (`helm template` needs
--api-versions monitoring.coreos.com/v1 to say yes.)
*/}}
{{- define "ws-close-agent.hasMonitoringAPI" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end }}
{{- end }}

{{/*
Secret holding the /metrics bearer token, and its key.
*/}}
{{- define "ws-close-agent.metricsTokenSecretName" -}}
{{- .Values.metricsToken.existingSecret | default (include "ws-close-agent.suffixedName" (dict "ctx" . "suffix" "metrics-token")) }}
{{- end }}

{{- define "ws-close-agent.metricsTokenCheck" -}}
{{- if and .Values.metricsToken.enabled (not .Values.metricsToken.existingSecret) (not .Values.metricsToken.value) }}
{{- fail "metricsToken.enabled needs metricsToken.existingSecret (recommended) or metricsToken.value" }}
{{- end }}
{{- end }}

{{- define "ws-close-agent.metricsTokenDir" -}}
/var/run/secrets/ws-close-agent
{{- end }}

{{/*
Where the TLS Secret is mounted (the whole Secret: a subPath mount would never see a renewal).
*/}}
{{- define "ws-close-agent.tlsDir" -}}
/var/run/secrets/ws-close-agent-tls
{{- end }}

{{- define "ws-close-agent.tlsCheck" -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) }}
{{- fail "tls.enabled needs tls.secretName (a kubernetes.io/tls Secret with tls.crt and tls.key)" }}
{{- end }}
{{- end }}

{{/*
terminationGracePeriodSeconds: the pod must outlive preStop plus the drain,
or the kubelet SIGKILLs connections that were still being closed cleanly.
*/}}
{{- define "ws-close-agent.terminationGracePeriodSeconds" -}}
{{- $needed := add .Values.shutdown.preStopSleepSeconds .Values.agent.drainTimeoutSeconds }}
{{- $grace := .Values.shutdown.terminationGracePeriodSeconds | default (add $needed 5) | int64 }}
{{- if le $grace $needed }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%d) must be greater than shutdown.preStopSleepSeconds + agent.drainTimeoutSeconds (%d)" $grace $needed) }}
{{- end }}
{{- $grace }}
{{- end }}

{{/*
Agent arguments: one flag per value, flag and value as separate words.
*/}}
{{- define "ws-close-agent.args" -}}
- --listen
- {{ printf "0.0.0.0:%v" .Values.agent.port | quote }}
- --metrics-listen
- {{ printf "0.0.0.0:%v" .Values.agent.metricsPort | quote }}
{{- with .Values.agent.upstream }}
- --upstream
- {{ . | quote }}
{{- end }}
{{- if .Values.agent.codes }}
{{- $codes := list }}
{{- range $code, $name := .Values.agent.codes }}
{{- $codes = append $codes (printf "%s=%s" $code $name) }}
{{- end }}
- --codes
- {{ join "," $codes | quote }}
{{- end }}
{{- if not (kindIs "invalid" .Values.agent.maxCustomCodes) }}
- --max-custom-codes
- {{ .Values.agent.maxCustomCodes | int64 | quote }}
{{- end }}
{{- with .Values.agent.metricPrefix }}
- --metric-prefix
- {{ . | quote }}
{{- end }}
{{- if not (kindIs "invalid" .Values.agent.maxConnections) }}
- --max-connections
- {{ .Values.agent.maxConnections | int64 | quote }}
{{- end }}
{{- with .Values.agent.idleTimeout }}
- --idle-timeout
- {{ . | toString | quote }}
{{- end }}
{{- with .Values.agent.handshakeTimeout }}
- --handshake-timeout
- {{ . | toString | quote }}
{{- end }}
{{- with .Values.agent.connectTimeout }}
- --connect-timeout
- {{ . | toString | quote }}
{{- end }}
- --drain-timeout
- {{ printf "%ds" (.Values.agent.drainTimeoutSeconds | int64) | quote }}
- --log-level
- {{ .Values.agent.logLevel | quote }}
{{- if .Values.metricsToken.enabled }}
- --metrics-token-file
- {{ printf "%s/%s" (include "ws-close-agent.metricsTokenDir" .) .Values.metricsToken.secretKey | quote }}
{{- end }}
{{- if .Values.tls.enabled }}
- --tls-cert
- {{ printf "%s/tls.crt" (include "ws-close-agent.tlsDir" .) | quote }}
- --tls-key
- {{ printf "%s/tls.key" (include "ws-close-agent.tlsDir" .) | quote }}
{{- with .Values.tls.checkInterval }}
- --tls-check-interval
- {{ . | toString | quote }}
{{- end }}
{{- end }}
{{- with .Values.agent.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}
