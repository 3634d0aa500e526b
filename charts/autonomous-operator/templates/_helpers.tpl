{{/* Names, labels and shared pieces of the chart's templates. */}}

{{- define "aop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-<chart>", or the release name alone when it already contains the chart's. */}}
{{- define "aop.fullname" -}}
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

{{/* Cluster-scoped objects (ClusterRoles and their bindings) carry the namespace too, so
two releases of the same name in different namespaces do not collide. */}}
{{- define "aop.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "aop.fullname" .) -}}
{{- end -}}

{{- define "aop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "aop.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "aop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: autonomous-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "aop.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "aop.operatorServiceAccount" -}}
{{- default (printf "%s-operator" (include "aop.fullname" .)) .Values.operator.serviceAccount.name -}}
{{- end -}}

{{- define "aop.workerServiceAccount" -}}
{{- default (printf "%s-worker" (include "aop.fullname" .)) .Values.workers.serviceAccount.name -}}
{{- end -}}

{{/* Namespaces where operations are served (not cluster-wide): workers.namespaces, or the
release namespace when that list is empty. */}}
{{- define "aop.workerNamespaces" -}}
{{- $list := .Values.workers.namespaces | default (list .Release.Namespace) -}}
{{- toJson (uniq $list) -}}
{{- end -}}

{{/* Every namespace the operator needs its custom-resource permissions in: the served
ones and its own (OperationQueues live there). */}}
{{- define "aop.operatorNamespaces" -}}
{{- $list := include "aop.workerNamespaces" . | fromJsonArray -}}
{{- toJson (uniq (append $list .Release.Namespace)) -}}
{{- end -}}

{{/* The Secret and key the Redis URL is read from, by the operator and (through the
operator's AOP_REDIS_SECRET_* settings) by every worker pod. */}}
{{- define "aop.redisSecretName" -}}
{{- if .Values.redis.existingSecret -}}
{{- .Values.redis.existingSecret -}}
{{- else -}}
{{- printf "%s-redis" (include "aop.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "aop.redisSecretKey" -}}
{{- if .Values.redis.existingSecret -}}
{{- .Values.redis.existingSecretKey -}}
{{- else -}}
redis-url
{{- end -}}
{{- end -}}

{{/* Exactly one Redis source; fail with the fix spelled out otherwise. */}}
{{- define "aop.validateRedis" -}}
{{- $sources := 0 -}}
{{- if .Values.redis.url }}{{ $sources = add1 $sources }}{{ end -}}
{{- if .Values.redis.existingSecret }}{{ $sources = add1 $sources }}{{ end -}}
{{- if .Values.redis.bundled.enabled }}{{ $sources = add1 $sources }}{{ end -}}
{{- if ne (int $sources) 1 -}}
{{- fail "set exactly one Redis: redis.url, redis.existingSecret, or redis.bundled.enabled=true (with an external Redis add --set redis.bundled.enabled=false)" -}}
{{- end -}}
{{- end -}}

{{/* Pod and container security shared by the operator, bundled Redis and the test pod:
non-root, no privilege escalation, no capabilities, read-only root, RuntimeDefault. */}}
{{- define "aop.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "aop.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
{{- end -}}

{{/* RBAC rules, shared by Roles (per namespace) and ClusterRoles (cluster-wide). */}}

{{/* The operator where operations are served: watch and annotate the custom resources
(kopf keeps its finalizer and progress in metadata), write their status, read the
namespace's organization label, record Events. No Secrets: the operator never reads one. */}}
{{- define "aop.operatorRules" -}}
- apiGroups: ["autonomous.dev"]
  resources: ["autonomousoperations", "operationconsents", "operationqueues"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["autonomous.dev"]
  resources: ["autonomousoperations/status", "operationqueues/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{/* The workers where operations are served: read the login Secret and the previous
result, write the result Secret, re-check consent, confirm the operation still exists. */}}
{{- define "aop.workerRules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create", "update"]
- apiGroups: ["autonomous.dev"]
  resources: ["operationconsents"]
  verbs: ["get", "list"]
- apiGroups: ["autonomous.dev"]
  resources: ["autonomousoperations"]
  verbs: ["get"]
{{- end -}}

{{/* What every kubectl step container of the hooks shares (see templates/tests/ and
templates/cleanup-hook.yaml). Call with (dict "ctx" $ "manifests" true/false). */}}
{{- define "aop.hookContainer" -}}
image: {{ printf "%s:%s" .ctx.Values.kubectlImage.repository .ctx.Values.kubectlImage.tag }}
imagePullPolicy: {{ .ctx.Values.kubectlImage.pullPolicy }}
env:
  # kubectl keeps its discovery cache under $HOME; the root filesystem is read-only.
  - name: HOME
    value: /tmp
resources:
  requests:
    cpu: 10m
    memory: 32Mi
  limits:
    memory: 128Mi
securityContext:
  {{- include "aop.containerSecurityContext" .ctx | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- if .manifests }}
  - name: manifests
    mountPath: /manifests
    readOnly: true
  {{- end }}
{{- end -}}

{{/* The names of .Values.imagePullSecrets, comma-separated (for the operator to pass on to worker pods). */}}
{{- define "aop.imagePullSecretNames" -}}
{{- $names := list -}}
{{- range .Values.imagePullSecrets }}{{ $names = append $names .name }}{{ end -}}
{{- join "," $names -}}
{{- end -}}
