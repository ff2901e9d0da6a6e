{{/* Name prefix of every object: the release name ("loki" gives loki-write, loki-compactor...). */}}
{{- define "ls.name" -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- end }}

{{- define "ls.ns" -}}{{ .Release.Namespace }}{{- end }}

{{/* FQDN of a Service of this release: include "ls.svc" (list . "compactor") */}}
{{- define "ls.svc" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%s.%s.svc.%s" (include "ls.name" $ctx) (index . 1) $ctx.Release.Namespace $ctx.Values.clusterDomain -}}
{{- end }}

{{- define "ls.labels" -}}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
app.kubernetes.io/name: loki
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: include "ls.selector" (list . "write") */}}
{{- define "ls.selector" -}}
app.kubernetes.io/name: loki
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Loki pods (not the compactor) join memberlist. */}}
{{- define "ls.memberlist" -}}
app.kubernetes.io/part-of: memberlist
{{- end }}

{{- define "ls.image" -}}{{ .repository }}:{{ .tag }}{{- end }}

{{- define "ls.pullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "ls.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- end }}

{{- define "ls.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end }}

{{/* Config checksum: pods restart when the shared Loki config changes. */}}
{{- define "ls.configChecksum" -}}
checksum/config: {{ include "ls.lokiConfig" . | sha256sum }}
{{- end }}

{{- define "ls.awsEnv" -}}
- name: AWS_REGION
  value: {{ .Values.aws.region | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ .Values.aws.region | quote }}
- name: AWS_STS_REGIONAL_ENDPOINTS
  value: regional
{{- end }}

{{/* The one Loki config shared by write, read, backend and loki-compactor. */}}
{{- define "ls.lokiConfig" -}}
{{- $compactorHttp := printf "http://%s:3100" (include "ls.svc" (list . "compactor")) -}}
{{- $compactorGrpc := printf "%s:9095" (include "ls.svc" (list . "compactor")) -}}
{{- $cfg := dict
  "auth_enabled" .Values.loki.authEnabled
  "server" (dict "http_listen_port" 3100 "grpc_listen_port" 9095 "log_level" "info"
                 "grpc_server_max_recv_msg_size" 104857600 "grpc_server_max_send_msg_size" 104857600)
  "common" (dict
      "path_prefix" "/var/loki"
      "replication_factor" 3
      "compactor_address" (ternary $compactorHttp "" (eq .Values.loki.compactorClient "http"))
      "compactor_grpc_address" (ternary $compactorGrpc "" (eq .Values.loki.compactorClient "grpc"))
      "ring" (dict "kvstore" (dict "store" "memberlist")))
  "memberlist" (dict "join_members" (list (printf "%s:7946" (include "ls.svc" (list . "memberlist")))))
  "schema_config" .Values.loki.schemaConfig
  "storage_config" (dict
      "aws" (dict "region" .Values.aws.region "bucketnames" .Values.aws.buckets.chunks "s3forcepathstyle" false)
      "tsdb_shipper" (dict
          "active_index_directory" "/var/loki/tsdb-index"
          "cache_location" "/var/loki/tsdb-cache"
          "index_gateway_client" (dict "server_address" (printf "dns+%s-backend-headless.%s.svc.%s:9095" (include "ls.name" .) .Release.Namespace .Values.clusterDomain))))
  "ingester" (dict "chunk_encoding" "snappy" "autoforget_unhealthy" true
                   "wal" (dict "enabled" true "dir" "/var/loki/wal" "flush_on_shutdown" true))
  "index_gateway" (dict "mode" "simple")
  "frontend" (dict "scheduler_address" (printf "%s-backend-headless.%s.svc.%s:9095" (include "ls.name" .) .Release.Namespace .Values.clusterDomain)
                   "tail_proxy_url" (printf "http://%s:3100" (include "ls.svc" (list . "read"))))
  "frontend_worker" (dict "scheduler_address" (printf "%s-backend-headless.%s.svc.%s:9095" (include "ls.name" .) .Release.Namespace .Values.clusterDomain))
  "query_scheduler" (dict "max_outstanding_requests_per_tenant" 32768)
  "querier" (dict "max_concurrent" 8)
  "ruler" (dict "storage" (dict "type" "s3" "s3" (dict "region" .Values.aws.region "bucketnames" .Values.aws.buckets.ruler))
                "rule_path" "/var/loki/rules-tmp" "enable_api" true
                "wal" (dict "dir" "/var/loki/ruler-wal")
                "ring" (dict "kvstore" (dict "store" "memberlist")))
  "limits_config" .Values.loki.limits
  "runtime_config" (dict "file" "/etc/loki/overrides.yaml" "period" "10s")
  "compactor" (merge (dict "working_directory" "/var/loki/compactor" "delete_request_store" "s3") .Values.loki.compactor)
  "analytics" (dict "reporting_enabled" false)
-}}
{{- toYaml (mergeOverwrite $cfg (deepCopy .Values.loki.extraConfig)) -}}
{{- end }}

{{- define "ls.lokiVolumes" -}}
- name: config
  configMap:
    name: {{ include "ls.name" . }}-config
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "ls.lokiMounts" -}}
- name: config
  mountPath: /etc/loki
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "ls.probes" -}}
readinessProbe:
  httpGet:
    path: /ready
    port: http-metrics
  initialDelaySeconds: 15
  periodSeconds: 10
  timeoutSeconds: 1
livenessProbe:
  httpGet:
    path: /ready
    port: http-metrics
  initialDelaySeconds: 300
  periodSeconds: 30
  failureThreshold: 10
{{- end }}

{{- define "ls.lokiPorts" -}}
ports:
  - name: http-metrics
    containerPort: 3100
    protocol: TCP
  - name: grpc
    containerPort: 9095
    protocol: TCP
  - name: http-memberlist
    containerPort: 7946
    protocol: TCP
{{- end }}

{{/* Labels of a component's objects: include "ls.clabels" (list . "write") */}}
{{- define "ls.clabels" -}}
{{- $ctx := index . 0 -}}
helm.sh/chart: {{ $ctx.Chart.Name }}-{{ $ctx.Chart.Version }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{ include "ls.selector" . }}
{{- end }}
