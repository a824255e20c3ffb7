{{/* Names and labels. */}}
{{- define "flow-collector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "flow-collector.fullname" -}}
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

{{- define "flow-collector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flow-collector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flow-collector.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "flow-collector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "flow-collector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flow-collector.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "flow-collector.monitoringLabels" -}}
{{- $l := deepCopy (default dict .Values.monitoring.labels) -}}
{{- with .Values.monitoring.kubePrometheusStackRelease -}}{{- $_ := set $l "release" . -}}{{- end -}}
{{- if $l -}}{{- toYaml $l -}}{{- end -}}
{{- end -}}

{{/* Mount points of the Secrets. */}}
{{- define "flow-collector.credsDir" -}}/etc/flow-collector/nats-creds{{- end -}}
{{- define "flow-collector.tlsDir" -}}/etc/flow-collector/nats-tls{{- end -}}
{{- define "flow-collector.configPath" -}}/etc/flow-collector/config/config.yaml{{- end -}}

{{/*
The collector's configuration as rendered into the ConfigMap: values.config with the Secret file
paths filled in. Every other template reads the listeners and addresses from this, so the Service,
the probes and the file the collector loads cannot disagree.
*/}}
{{- define "flow-collector.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $creds := .Values.nats.credsSecret -}}
{{- $tls := .Values.nats.tlsSecret -}}
{{- if or $creds.name $tls.name -}}
{{- if not (hasKey $cfg "nats") -}}
{{- fail "nats.credsSecret / nats.tlsSecret are set but config.nats is missing: add config.nats.servers" -}}
{{- end -}}
{{- $nats := $cfg.nats -}}
{{- if $creds.name -}}
{{- range $k := list "nkey_seed_file" "user" "password" "token" -}}
{{- if hasKey $nats $k -}}
{{- fail (printf "config.nats.%s and nats.credsSecret both authenticate: keep one" $k) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $nats "creds_file" (printf "%s/%s" (include "flow-collector.credsDir" .) $creds.key) -}}
{{- end -}}
{{- if $tls.name -}}
{{- $t := dict -}}
{{- if $tls.caKey -}}{{- $_ := set $t "ca_file" (printf "%s/%s" (include "flow-collector.tlsDir" .) $tls.caKey) -}}{{- end -}}
{{- if and $tls.certKey (not $tls.keyKey) -}}{{- fail "nats.tlsSecret.certKey needs nats.tlsSecret.keyKey (the client certificate's private key)" -}}{{- end -}}
{{- if $tls.certKey -}}
{{- $_ := set $t "cert_file" (printf "%s/%s" (include "flow-collector.tlsDir" .) $tls.certKey) -}}
{{- $_ := set $t "key_file" (printf "%s/%s" (include "flow-collector.tlsDir" .) $tls.keyKey) -}}
{{- end -}}
{{- $_ := set $nats "tls" $t -}}
{{- end -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* The listeners, checked: wildcard address, fixed port. Returns {"ports": [..]} as YAML. */}}
{{- define "flow-collector.udpPorts" -}}
{{- $cfg := include "flow-collector.config" . | fromYaml -}}
{{- $ports := list -}}
{{- range $i, $l := $cfg.listeners -}}
{{- $addr := default "0.0.0.0" $l.address -}}
{{- if not (has $addr (list "0.0.0.0" "::")) -}}
{{- fail (printf "config.listeners[%d].address %s: in the chart a listener receives on 0.0.0.0 (or :: for IPv6 and IPv4): traffic arrives at the pod's own address" $i $addr) -}}
{{- end -}}
{{- if eq (int $l.port) 0 -}}
{{- fail (printf "config.listeners[%d].port 0: the Service needs a fixed port" $i) -}}
{{- end -}}
{{- if has (int $l.port) $ports -}}
{{- fail (printf "config.listeners[%d].port %d: another listener has that port" $i (int $l.port)) -}}
{{- end -}}
{{- $ports = append $ports (int $l.port) -}}
{{- end -}}
{{- toYaml (dict "ports" $ports) -}}
{{- end -}}

{{/*
The metrics and health HTTP ports: {"metrics": port or 0, "health": port}. The collector's defaults
apply where the config says nothing (metrics on, 127.0.0.1:9191).
*/}}
{{- define "flow-collector.httpPorts" -}}
{{- $cfg := include "flow-collector.config" . | fromYaml -}}
{{- $m := default dict $cfg.metrics -}}
{{- $enabled := true -}}
{{- if hasKey $m "enabled" -}}{{- $enabled = $m.enabled -}}{{- end -}}
{{- $maddr := default "127.0.0.1:9191" $m.address -}}
{{- $h := default dict $cfg.health -}}
{{- $haddr := "" -}}
{{- if $h.address -}}{{- $haddr = $h.address -}}{{- else if $enabled -}}{{- $haddr = $maddr -}}{{- end -}}
{{- if not $haddr -}}
{{- fail "config.health.address is needed for the liveness and readiness probes when config.metrics.enabled is false (e.g. \"0.0.0.0:9191\")" -}}
{{- end -}}
{{- $out := dict "metrics" 0 "health" 0 -}}
{{- range $what, $addr := dict "health" $haddr "metrics" (ternary $maddr "" $enabled) -}}
{{- if $addr -}}
{{- $port := regexFind "[0-9]+$" $addr -}}
{{- $host := trimSuffix (printf ":%s" $port) $addr -}}
{{- if not (has $host (list "0.0.0.0" "[::]")) -}}
{{- fail (printf "config.%s.address %s: in a pod it must listen on 0.0.0.0 (or [::]) so that the kubelet and Prometheus reach it" $what $addr) -}}
{{- end -}}
{{- if eq (int $port) 0 -}}
{{- fail (printf "config.%s.address %s: the probes and Services need a fixed port" $what $addr) -}}
{{- end -}}
{{- $_ := set $out $what (int $port) -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
Subjects the collector publishes flows on (for the NATS permissions): every nats output's subject
and every listener's subject, with {protocol} and {exporter} as wildcards, after nats.subject_prefix.
*/}}
{{- define "flow-collector.publishSubjects" -}}
{{- $cfg := include "flow-collector.config" . | fromYaml -}}
{{- $prefix := "" -}}
{{- if and (hasKey $cfg "nats") $cfg.nats.subject_prefix -}}{{- $prefix = printf "%s." $cfg.nats.subject_prefix -}}{{- end -}}
{{- $subjects := list -}}
{{- range $o := $cfg.outputs -}}
{{- if eq $o.type "nats" -}}
{{- $subjects = append $subjects (default "flows.raw" $o.subject) -}}
{{- range $l := $cfg.listeners -}}{{- if $l.subject -}}{{- $subjects = append $subjects $l.subject -}}{{- end -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- $out := list -}}
{{- range $s := $subjects -}}
{{- $out = append $out (printf "%s%s" $prefix ($s | replace "{protocol}" "*" | replace "{exporter}" "*")) -}}
{{- end -}}
{{- $out | uniq | join ", " -}}
{{- end -}}
