{{/* The chart's name, or nameOverride. */}}
{{- define "mlops-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, else the release name (with the
chart's name appended unless it already contains it). 63 characters at most.
*/}}
{{- define "mlops-operator.fullname" -}}
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
The name of cluster-scoped objects (ClusterRole, ClusterRoleBinding): the full name plus
the release's namespace, so that one release per namespace (each serving its own
namespaces) never collides with another.
*/}}
{{- define "mlops-operator.clusterName" -}}
{{- printf "%s-%s" (include "mlops-operator.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "mlops-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object of the release. */}}
{{- define "mlops-operator.labels" -}}
helm.sh/chart: {{ include "mlops-operator.chart" . }}
{{ include "mlops-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlops-operator
{{- end }}

{{/* The labels that select the operator's pods; never change them (selectors are immutable). */}}
{{- define "mlops-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlops-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mlops-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mlops-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mlops-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "true" when the operator runs with kopf peering (several replicas, or asked for). */}}
{{- define "mlops-operator.peering" -}}
{{- if or .Values.peering.enabled (gt (int .Values.replicas) 1) }}true{{ end }}
{{- end }}

{{- define "mlops-operator.peeringName" -}}
{{- default (include "mlops-operator.fullname" .) .Values.peering.name }}
{{- end }}

{{/* Values the schema cannot check on its own; called from the Deployment. */}}
{{- define "mlops-operator.validate" -}}
{{- if eq (int .Values.metricsPort) (int .Values.healthPort) }}
{{- fail (printf "metricsPort and healthPort must differ (both are %d)" (int .Values.metricsPort)) }}
{{- end }}
{{- end }}

{{/* The rules in every served namespace (a ClusterRole's when serving all of them). */}}
{{- define "mlops-operator.namespacedRules" -}}
# Our own kinds: read them, write only their status; delete a finished TrainingJob
# when its ttlSecondsAfterFinished is up.
- apiGroups: [mlops.dev]
  resources: [trainingjobs, modeldeployments, retrainpolicies]
  verbs: [get, list, watch]
- apiGroups: [mlops.dev]
  resources: [trainingjobs/status, modeldeployments/status, retrainpolicies/status]
  verbs: [patch]
- apiGroups: [mlops.dev]
  resources: [trainingjobs]
  verbs: [delete]
# TrainingJob children: an Indexed Job per attempt (suspend/resume patches, deletes),
# a headless Service per run. Pods are not watched: an attempt slow to start has its
# pods listed once in a while, to say why (e.g. Unschedulable).
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
# Events on our objects (core/v1, which is also the API kopf posts to).
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# The ModelDeployment controller (next release): model server Deployments, their
# autoscalers, and Gateway API HTTPRoutes that split canary traffic.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, watch, create, patch, delete]
{{- end }}
