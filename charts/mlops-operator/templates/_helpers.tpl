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

{{/*
"true" when the replicas coordinate through a Lease (leader election): as leaderElection.enabled
says, or, when that is unset (null), whenever replicas > 1.
*/}}
{{- define "mlops-operator.leaderElection" -}}
{{- $enabled := .Values.leaderElection.enabled }}
{{- if kindIs "invalid" $enabled }}
{{- if gt (int .Values.replicas) 1 }}true{{ end }}
{{- else if $enabled }}true{{ end }}
{{- end }}

{{/* The Lease the replicas elect their leader through, in the release's namespace. */}}
{{- define "mlops-operator.leaseName" -}}
{{- default (include "mlops-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* Values the schema cannot check on its own; called from the Deployment. */}}
{{- define "mlops-operator.validate" -}}
{{- if eq (int .Values.metricsPort) (int .Values.healthPort) }}
{{- fail (printf "metricsPort and healthPort must differ (both are %d)" (int .Values.metricsPort)) }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (not (include "mlops-operator.leaderElection" .)) }}
{{- fail (printf "replicas=%d needs leader election, but leaderElection.enabled=false: every replica would reconcile" (int .Values.replicas)) }}
{{- end }}
{{- end }}

{{/*
The rules in every served namespace (a ClusterRole's when serving all of them): exactly what
the three controllers do, one rule per reason. Nothing here reads Secrets or ConfigMaps,
execs into pods, or touches RBAC.
*/}}
{{- define "mlops-operator.namespacedRules" -}}
# Our own kinds: each controller lists and watches its kind (kopf indexes are the cache)
# and reads one object to confirm a cache entry before acting on it.
- apiGroups: [mlops.dev]
  resources: [trainingjobs, modeldeployments, retrainpolicies]
  verbs: [get, list, watch]
# A RetrainPolicy creates its training runs and prunes old ones; a finished TrainingJob is
# deleted when its ttlSecondsAfterFinished is up.
- apiGroups: [mlops.dev]
  resources: [trainingjobs]
  verbs: [create, delete]
# The status is the only part of our own objects the operator writes.
- apiGroups: [mlops.dev]
  resources: [trainingjobs/status, modeldeployments/status, retrainpolicies/status]
  verbs: [get, patch, update]
# Children carry an ownerReference with blockOwnerDeletion: true. Where the admission plugin
# OwnerReferencesPermissionEnforcement runs (OpenShift), setting it needs update on the
# owner's finalizers subresource. The operator itself never adds a finalizer.
- apiGroups: [mlops.dev]
  resources: [trainingjobs/finalizers, modeldeployments/finalizers, retrainpolicies/finalizers]
  verbs: [update]
# TrainingJob: an Indexed Job per attempt (created, suspended and resumed by patch,
# deleted); watched as the cache of children.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch, delete]
# TrainingJob: a headless Service per run; ModelDeployment: the model's stable Service.
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
# ModelDeployment: the model server Deployments (stable and canary).
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
# ModelDeployment: the autoscaler of each model server Deployment.
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
# ModelDeployment: the canary's traffic split is patched into the user's Gateway API
# HTTPRoute; the route is the user's, so it is never created or deleted.
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, watch, patch]
# TrainingJob with queueName: Kueue's Workload for a queued run's Job is read, to show
# Kueue's own reason why it waits.
- apiGroups: [kueue.x-k8s.io]
  resources: [workloads]
  verbs: [list]
# TrainingJob: pods are never watched; an attempt slow to start has a page of its pending
# pods listed (to say why, e.g. Unschedulable), and the rank-0 pod is read for its
# termination message (the run's metrics).
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
# Events on our objects (core/v1); the TrainingJob controller also lists a Job's
# FailedCreate Events to say why its pods cannot be created (quota, ServiceAccount...).
- apiGroups: [""]
  resources: [events]
  verbs: [create, list]
{{- end }}
