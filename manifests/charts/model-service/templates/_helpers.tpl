{{/* Names and labels shared by every template; every mlloop label uses the mlloop.io/ domain (docs/contracts.md). */}}
{{- define "model-service.fullname" -}}
{{- default .Release.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "model-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "model-service.fullname" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "model-service.labels" -}}
{{ include "model-service.selectorLabels" . }}
app.kubernetes.io/part-of: mlloop
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Values.model.version | replace "+" "_" | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
mlloop.io/app: {{ default .Release.Name .Values.mlloop.app }}
{{- if .Values.mlloop.env }}
mlloop.io/env: {{ .Values.mlloop.env }}
{{- end }}
mlloop.io/model-name: {{ .Values.model.name | quote }}
mlloop.io/model-version: {{ .Values.model.version | replace "+" "_" | quote }}
{{- end -}}

{{- define "model-service.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}{{ if .Values.image.tag }}:{{ .Values.image.tag }}{{ end }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ required "image.tag or image.digest is required" .Values.image.tag }}
{{- end -}}
{{- end -}}

{{- define "model-service.podTemplate" -}}
metadata:
  labels:
    {{- include "model-service.labels" . | nindent 4 }}
  annotations:
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ .Values.containerPort | quote }}
    prometheus.io/path: {{ .Values.serviceMonitor.path }}
    {{- if .Values.podAnnotations }}
    {{- toYaml .Values.podAnnotations | nindent 4 }}
    {{- end }}
spec:
  {{- if .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml .Values.imagePullSecrets | nindent 4 }}
  {{- end }}
  containers:
    - name: model
      image: {{ include "model-service.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --model
        - {{ .Values.model.path | quote }}
        - --port
        - {{ .Values.containerPort | quote }}
        - --host
        - 0.0.0.0
        - --model-version
        - {{ .Values.model.version | quote }}
        {{- if .Values.args }}
        {{- toYaml .Values.args | nindent 8 }}
        {{- end }}
      {{- if .Values.env }}
      env:
        {{- toYaml .Values.env | nindent 8 }}
      {{- end }}
      ports:
        - name: http
          containerPort: {{ .Values.containerPort }}
          protocol: TCP
      readinessProbe:
        httpGet:
          path: {{ .Values.probes.readiness.path }}
          port: http
        initialDelaySeconds: {{ .Values.probes.readiness.initialDelaySeconds }}
        periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
        failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
      livenessProbe:
        httpGet:
          path: {{ .Values.probes.liveness.path }}
          port: http
        initialDelaySeconds: {{ .Values.probes.liveness.initialDelaySeconds }}
        periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
        failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
      resources:
        {{- if .Values.resources.requests }}
        requests:
          {{- toYaml .Values.resources.requests | nindent 10 }}
        {{- end }}
        {{- if or .Values.resources.limits .Values.gpu.enabled }}
        limits:
          {{- if .Values.resources.limits }}
          {{- toYaml .Values.resources.limits | nindent 10 }}
          {{- end }}
          {{- if .Values.gpu.enabled }}
          {{ .Values.gpu.resourceName }}: {{ .Values.gpu.count }}
          {{- end }}
        {{- end }}
  {{- if or .Values.nodeSelector (and .Values.gpu.enabled .Values.gpu.nodeSelector) }}
  nodeSelector:
    {{- if .Values.nodeSelector }}
    {{- toYaml .Values.nodeSelector | nindent 4 }}
    {{- end }}
    {{- if and .Values.gpu.enabled .Values.gpu.nodeSelector }}
    {{- toYaml .Values.gpu.nodeSelector | nindent 4 }}
    {{- end }}
  {{- end }}
  {{- if or .Values.tolerations (and .Values.gpu.enabled .Values.gpu.tolerations) }}
  tolerations:
    {{- if .Values.tolerations }}
    {{- toYaml .Values.tolerations | nindent 4 }}
    {{- end }}
    {{- if and .Values.gpu.enabled .Values.gpu.tolerations }}
    {{- toYaml .Values.gpu.tolerations | nindent 4 }}
    {{- end }}
  {{- end }}
{{- end -}}
