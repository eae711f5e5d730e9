{{/*
Helpers shared by every component. A component is described by a context dict:
  (dict "root" $ "name" "routing" "values" .Values.routing "binary" "sb-routing")
Adding a component = a values block with the component keys (see values.yaml) plus a template
directory that calls switchboard.podTemplate, switchboard.service, switchboard.pdb, switchboard.hpa.
*/}}

{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "switchboard.fullname" -}}
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

{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a component's objects: <fullname>-<component>, 63 characters at most. */}}
{{- define "switchboard.componentName" -}}
{{- printf "%s-%s" (include "switchboard.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable for the life of a release (never the chart or app version). */}}
{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}
{{- end -}}

{{/* All labels of an object. Context: a component dict, or (dict "root" $ "name" "") */}}
{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" .root }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: switchboard
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations (commonAnnotations plus .extra, a dict) at indent 2, with its leading
newline; nothing at all when there are none. Use as `  {{- include "switchboard.annotations" ...}}`. */}}
{{- define "switchboard.annotations" -}}
{{- $all := merge (deepCopy (default dict .extra)) (deepCopy .root.Values.commonAnnotations) -}}
{{- if $all -}}
{{- printf "\n  annotations:\n%s" (toYaml $all | indent 4) -}}
{{- end -}}
{{- end -}}

{{- define "switchboard.image" -}}
{{- $img := .Values.image -}}
{{- $repo := printf "%s/%s" $img.registry $img.repository | trimPrefix "/" -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{- define "switchboard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "switchboard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "switchboard.kafkaBootstrap" -}}
{{- if .Values.kafka.bootstrap -}}
{{- .Values.kafka.bootstrap -}}
{{- else if .Values.kafka.strimzi.enabled -}}
{{- printf "%s-kafka-bootstrap:9092" .Values.kafka.strimzi.clusterName -}}
{{- else -}}
{{- fail "kafka.bootstrap is required (HOST:PORT of your Kafka), or enable kafka.strimzi" -}}
{{- end -}}
{{- end -}}

{{/* A component's gRPC address for other components: its headless Service (every pod's IP). */}}
{{- define "switchboard.grpcAddress" -}}
{{- printf "%s.%s.svc:%v" (include "switchboard.componentName" .) .root.Release.Namespace .values.grpcPort -}}
{{- end -}}

{{/* The flags every service binary takes (services/common/app), one YAML list item per line. */}}
{{- define "switchboard.commonArgs" -}}
{{- $v := .root.Values -}}
- --bootstrap={{ include "switchboard.kafkaBootstrap" .root }}
- --listen=0.0.0.0:{{ .values.grpcPort }}
- --metrics-listen=0.0.0.0:{{ .values.metricsPort }}
- --log-format={{ $v.logFormat }}
- --log-level={{ $v.logLevel }}
{{- range $k, $val := $v.kafka.properties }}
- --kafka={{ $k }}={{ $val }}
{{- end }}
{{- if $v.kafka.sasl.enabled }}
- --kafka=security.protocol={{ $v.kafka.sasl.securityProtocol }}
- --kafka=sasl.mechanism={{ $v.kafka.sasl.mechanism }}
- --kafka=sasl.username=$(SB_KAFKA_SASL_USERNAME)
- --kafka=sasl.password=$(SB_KAFKA_SASL_PASSWORD)
{{- end }}
{{- end -}}

{{- define "switchboard.commonEnv" -}}
{{- $v := .root.Values -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- if $v.kafka.sasl.enabled }}
- name: SB_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ required "kafka.sasl.existingSecret is required when kafka.sasl.enabled" $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.usernameKey }}
- name: SB_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.passwordKey }}
{{- end }}
{{- with .values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A probe from values: an empty port in grpc/tcpSocket/httpGet becomes the gRPC port. */}}
{{- define "switchboard.probe" -}}
{{- $probe := deepCopy .probe -}}
{{- range $kind := list "grpc" "tcpSocket" -}}
{{- if hasKey $probe $kind -}}
{{- $action := default dict (get $probe $kind) -}}
{{- if not (hasKey $action "port") -}}
{{- $_ := set $action "port" $.port -}}
{{- end -}}
{{- $_ := set $probe $kind $action -}}
{{- end -}}
{{- end -}}
{{- toYaml $probe -}}
{{- end -}}

{{/*
The pod template of a component. Context: the component dict plus
  "args" (YAML list text of component flags), "volumes"/"volumeMounts" (YAML list text),
  "env" (YAML list text), "checksum" (a string whose change rolls the pods),
  "ports" (extra containerPorts, YAML list text).
*/}}
{{- define "switchboard.podTemplate" -}}
{{- $root := .root -}}
{{- $v := .values -}}
metadata:
  labels:
    {{- include "switchboard.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
    app.kubernetes.io/part-of: switchboard
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- if .checksum }}
    checksum/config: {{ .checksum | sha256sum }}
    {{- end }}
    kubectl.kubernetes.io/default-container: {{ .name }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "switchboard.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $root.Values.serviceAccount.automountServiceAccountToken }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if $v.topologySpread.enabled }}
  topologySpreadConstraints:
    {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
    - maxSkew: {{ $v.topologySpread.maxSkew }}
      topologyKey: {{ $key }}
      whenUnsatisfiable: {{ $v.topologySpread.whenUnsatisfiable }}
      labelSelector:
        matchLabels:
          {{- include "switchboard.selectorLabels" $ | nindent 10 }}
    {{- end }}
  {{- end }}
  containers:
    - name: {{ .name }}
      image: {{ include "switchboard.image" $root }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command: [{{ .binary | quote }}]
      args:
        {{- include "switchboard.commonArgs" . | nindent 8 }}
        {{- with .args }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      env:
        {{- include "switchboard.commonEnv" . | nindent 8 }}
        {{- with .env }}
        {{- . | nindent 8 }}
        {{- end }}
      ports:
        - name: grpc
          containerPort: {{ $v.grpcPort }}
          protocol: TCP
        - name: metrics
          containerPort: {{ $v.metricsPort }}
          protocol: TCP
        {{- with .ports }}
        {{- . | nindent 8 }}
        {{- end }}
      readinessProbe:
        {{- include "switchboard.probe" (dict "probe" $v.readinessProbe "port" $v.grpcPort) | nindent 8 }}
      livenessProbe:
        {{- include "switchboard.probe" (dict "probe" $v.livenessProbe "port" $v.grpcPort) | nindent 8 }}
      lifecycle:
        preStop:
          exec:
            command: ["sleep", "{{ $v.preStopSleepSeconds }}"]
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.containerSecurityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- with .volumeMounts }}
        {{- . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- with .volumes }}
    {{- . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* The headless Service of a component: gRPC clients resolve every ready pod (client-side load
balancing); Prometheus scrapes the metrics port through it. */}}
{{- define "switchboard.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "switchboard.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "switchboard.labels" . | nindent 4 }}
    switchboard.io/job: {{ .binary }}
  {{- include "switchboard.annotations" (dict "root" .root) }}
spec:
  type: ClusterIP
  clusterIP: None
  {{- if .publishNotReady }}
  # Stable per-pod DNS names even while a replica is not ready (routing --peers).
  publishNotReadyAddresses: true
  {{- end }}
  selector:
    {{- include "switchboard.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ .values.grpcPort }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    - name: metrics
      port: {{ .values.metricsPort }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
    {{- with .ports }}
    {{- . | nindent 4 }}
    {{- end }}
{{- end -}}

{{- define "switchboard.pdb" -}}
{{- if .values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "switchboard.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "switchboard.labels" . | nindent 4 }}
  {{- include "switchboard.annotations" (dict "root" .root) }}
spec:
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "switchboard.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{- define "switchboard.hpa" -}}
{{- if .values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "switchboard.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "switchboard.labels" . | nindent 4 }}
  {{- include "switchboard.annotations" (dict "root" .root) }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "switchboard.componentName" . }}
  minReplicas: {{ .values.autoscaling.minReplicas }}
  maxReplicas: {{ .values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end -}}

{{/* A Deployment for a component other than routing. Context: the podTemplate's, plus
"recreate" (roll with Recreate: the pods mount a ReadWriteOnce volume). */}}
{{- define "switchboard.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "switchboard.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "switchboard.labels" . | nindent 4 }}
  {{- include "switchboard.annotations" (dict "root" .root) }}
spec:
  {{- if not .values.autoscaling.enabled }}
  replicas: {{ .values.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    {{- if .recreate }}
    # A ReadWriteOnce volume: a surge pod could not attach it while the old pod holds it.
    type: Recreate
    {{- else }}
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
    {{- end }}
  selector:
    matchLabels:
      {{- include "switchboard.selectorLabels" . | nindent 6 }}
  template:
    {{- include "switchboard.podTemplate" . | nindent 4 }}
{{- end -}}


{{/*
The data volume of a component with a store (recording, insights). Context: the component dict
plus "sqlite" (the store is SQLite on this volume), "needed" (the volume holds anything worth
keeping) and "how" (why it is SQLite, for the error). Returns a JSON dict:
  claim      the PersistentVolumeClaim to mount ("" = an emptyDir: nothing to keep there)
  recreate   the pods must roll with Recreate (a claim without ReadWriteMany)
and fails when SQLite would be shared by several replicas.
*/}}
{{- define "switchboard.dataVolume" -}}
{{- $v := .values -}}
{{- $p := $v.persistence -}}
{{- $scaled := or (gt (int $v.replicas) 1) $v.autoscaling.enabled -}}
{{- if and .sqlite $scaled -}}
{{- fail (printf "%s: the SQLite store (%s) cannot be shared: run exactly one replica (replicas: 1, autoscaling.enabled: false), or configure PostgreSQL to scale out" .name .how) -}}
{{- end -}}
{{- $claim := "" -}}
{{- if .needed -}}
{{- $claim = default (printf "%s-data" (include "switchboard.componentName" .)) $p.existingClaim -}}
{{- end -}}
{{- $rwx := has "ReadWriteMany" $p.accessModes -}}
{{- dict "claim" $claim "recreate" (and .needed (not $rwx)) | toJson -}}
{{- end -}}

{{/* The PersistentVolumeClaim the chart creates for a component's data volume. Kept on
`helm uninstall` (it holds the component's database). Context: the component dict. */}}
{{- define "switchboard.pvc" -}}
{{- $p := .values.persistence -}}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ include "switchboard.componentName" . }}-data
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "switchboard.labels" . | nindent 4 }}
  {{- include "switchboard.annotations" (dict "root" .root "extra" (dict "helm.sh/resource-policy" "keep")) }}
spec:
  accessModes:
    {{- toYaml $p.accessModes | nindent 4 }}
  {{- with $p.storageClass }}
  storageClassName: {{ . | quote }}
  {{- end }}
  resources:
    requests:
      storage: {{ $p.size }}
{{- end -}}
