{{/* Names and labels */}}
{{- define "waste-coach.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "waste-coach.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "waste-coach.selectorLabels" -}}
app.kubernetes.io/name: {{ include "waste-coach.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "waste-coach.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "waste-coach.selectorLabels" . }}
app.kubernetes.io/version: {{ include "waste-coach.imageTag" . | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: waste-coach
{{- end -}}

{{/* Labels of one workload's pods; ctx = dict "root" $ "w" $workload */}}
{{- define "waste-coach.workloadSelectorLabels" -}}
{{ include "waste-coach.selectorLabels" .root }}
app.kubernetes.io/component: {{ .w.role }}
waste-coach.io/workload: {{ .w.name }}
{{- end -}}

{{- define "waste-coach.workloadLabels" -}}
{{ include "waste-coach.labels" .root }}
app.kubernetes.io/component: {{ .w.role }}
waste-coach.io/workload: {{ .w.name }}
{{- with .w.module }}
waste-coach.io/api-module: {{ . }}
{{- end }}
{{- end -}}

{{- define "waste-coach.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString -}}
{{- end -}}

{{- define "waste-coach.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "waste-coach.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{- define "waste-coach.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "waste-coach.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "waste-coach.secretName" -}}
{{- if .Values.secrets.sealedSecret.enabled -}}
{{- default (printf "%s-secrets" (include "waste-coach.fullname" .)) .Values.secrets.sealedSecret.name -}}
{{- else if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- fail "secrets: set secrets.existingSecret to a Secret in the namespace, or enable secrets.sealedSecret" -}}
{{- end -}}
{{- end -}}

{{- define "waste-coach.configName" -}}
{{- printf "%s-config" (include "waste-coach.fullname" .) -}}
{{- end -}}

{{/*
Workloads: one entry per Deployment. A role is one Deployment, except the API when
roles.api.split.enabled: then one Deployment per module, each with API_MODULES=<module> and the
module's overrides merged over roles.api. Returned as YAML {items: [{name, role, module, v}]};
use: {{ $workloads := (include "waste-coach.workloads" . | fromYaml).items }}
*/}}
{{- define "waste-coach.workloads" -}}
{{- $items := list -}}
{{- range $role := list "api" "fast" "external" "bulk" "beat" -}}
{{- $rv := index $.Values.roles $role -}}
{{- if $rv.enabled -}}
{{- $base := omit (deepCopy $rv) "split" "enabled" -}}
{{- if and (eq $role "api") $rv.split.enabled -}}
{{- range $module := list "auth" "users" "waste" "recycling" "locations" -}}
{{- if hasKey $rv.split.modules $module -}}
{{- $mv := deepCopy (index $rv.split.modules $module | default dict) -}}
{{- if not (and (hasKey $mv "enabled") (not $mv.enabled)) -}}
{{- $merged := mergeOverwrite (deepCopy $base) (omit $mv "enabled") -}}
{{- $items = append $items (dict "name" (printf "api-%s" $module) "role" $role "module" $module "v" $merged) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- $items = append $items (dict "name" $role "role" $role "module" "" "v" $base) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "items" $items) -}}
{{- end -}}

{{/* Fails the render on settings that would break at run time; ctx = dict "root" $ "w" $workload */}}
{{- define "waste-coach.checkWorkload" -}}
{{- $v := .w.v -}}
{{- $need := add (int $v.shutdownTimeoutSeconds) (int $v.preStopSleepSeconds) -}}
{{- if le (int $v.terminationGracePeriodSeconds) (int $need) -}}
{{- fail (printf "roles.%s: terminationGracePeriodSeconds (%d) must exceed shutdownTimeoutSeconds + preStopSleepSeconds (%d), or Kubernetes kills the pod before in-flight messages drain" .w.name (int $v.terminationGracePeriodSeconds) (int $need)) -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (and $v.keda $v.keda.enabled) -}}
{{- fail (printf "roles.%s: enable either autoscaling (HPA) or keda, not both" .w.name) -}}
{{- end -}}
{{- if and (eq .w.role "api") (and $v.keda $v.keda.enabled) -}}
{{- fail "roles.api: KEDA queue scaling is for workers; use autoscaling for the API" -}}
{{- end -}}
{{- end -}}

{{/* True ("true") when replicas are owned by an HPA or a KEDA ScaledObject. */}}
{{- define "waste-coach.autoscaled" -}}
{{- if or .autoscaling.enabled (and .keda .keda.enabled) -}}true{{- end -}}
{{- end -}}

{{- define "waste-coach.probe" -}}
httpGet:
  path: {{ .probe.path }}
  port: {{ .port }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end -}}

{{/* The pod template of one workload; ctx = dict "root" $ "w" $workload */}}
{{- define "waste-coach.podTemplate" -}}
{{- $root := .root -}}
{{- $w := .w -}}
{{- $v := $w.v -}}
{{- $isApi := eq $w.role "api" -}}
metadata:
  labels:
    {{- include "waste-coach.workloadLabels" . | nindent 4 }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "waste-coach.serviceAccountName" $root }}
  automountServiceAccountToken: false
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ int $v.terminationGracePeriodSeconds }}
  containers:
    - name: {{ $w.role }}
      image: {{ include "waste-coach.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command:
        {{- toYaml $v.command | nindent 8 }}
      ports:
        {{- if $isApi }}
        - name: http
          containerPort: {{ $root.Values.ports.http }}
          protocol: TCP
        {{- end }}
        - name: metrics
          containerPort: {{ $root.Values.ports.metrics }}
          protocol: TCP
      envFrom:
        - configMapRef:
            name: {{ include "waste-coach.configName" $root }}
      env:
        - name: APP_ROLE
          value: {{ $w.role | quote }}
        {{- if $isApi }}
        - name: PORT
          value: {{ $root.Values.ports.http | quote }}
        {{- end }}
        - name: METRICS_PORT
          value: {{ $root.Values.ports.metrics | quote }}
        - name: SHUTDOWN_TIMEOUT_MS
          value: {{ mul (int $v.shutdownTimeoutSeconds) 1000 | quote }}
        {{- with $w.module }}
        - name: API_MODULES
          {{- /* The default module's Deployment also takes what the ingress sends to `/`: the operators' /api/v1/admin. */}}
          value: {{ ternary (printf "%s,admin" .) . (eq . $root.Values.roles.api.split.defaultModule) | quote }}
        {{- end }}
        {{- range $queue, $n := $v.prefetch }}
        - name: {{ printf "PREFETCH_%s" (upper $queue) }}
          value: {{ int $n | quote }}
        {{- end }}
        {{- range $name, $value := $v.env }}
        - name: {{ $name }}
          value: {{ $value | toString | quote }}
        {{- end }}
        {{- $secret := include "waste-coach.secretName" $root }}
        {{- range $key := $v.secretEnv.required }}
        - name: {{ $key }}
          valueFrom:
            secretKeyRef:
              name: {{ $secret }}
              key: {{ $key }}
        {{- end }}
        {{- range $key := $v.secretEnv.optional }}
        - name: {{ $key }}
          valueFrom:
            secretKeyRef:
              name: {{ $secret }}
              key: {{ $key }}
              optional: true
        {{- end }}
      {{- $port := ternary "http" "metrics" (and $isApi (eq $v.probes.port "http")) }}
      startupProbe:
        {{- include "waste-coach.probe" (dict "probe" $v.probes.startup "port" $port) | nindent 8 }}
      livenessProbe:
        {{- include "waste-coach.probe" (dict "probe" $v.probes.liveness "port" $port) | nindent 8 }}
      readinessProbe:
        {{- include "waste-coach.probe" (dict "probe" $v.probes.readiness "port" $port) | nindent 8 }}
      {{- if gt (int $v.preStopSleepSeconds) 0 }}
      lifecycle:
        preStop:
          exec:
            command: ["sleep", {{ $v.preStopSleepSeconds | toString | quote }}]
      {{- end }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $root.Values.tmpVolume.sizeLimit }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
