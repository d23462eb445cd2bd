{{/*
What each service is, as the code defines it (ports, proto service, who it calls, which events it
consumes): not configuration, so it lives here and not in values.yaml.
  kind: grpc (gRPC server + metrics port) | http (HTTP server with /healthz, /readyz, /metrics)
  healthPort: HEALTH_PORT, plain text for the kubelet's probes (grpc.health.v1, or /healthz and
    /readyz); kept out of the Services
  edge: its gRPC and HTTP servers face clients, who present no certificate (the gateway
    authenticates their tokens); its certificate makes it a client of the services
  consumers: the durable JetStream consumers the service runs (stream, durable name)
*/}}
{{- define "shop.topology" -}}
catalog:
  kind: grpc
  grpcPort: 50051
  metricsPort: 9101
  healthPort: 50050
  grpcService: shop.catalog.v1.CatalogService
  database: true
  nats: true
  # The search projection's backfill reads base prices and stock totals.
  calls: [pricing, inventory]
  payments: false
  consumers:
    - {stream: SHOP_PRICING, consumer: catalog-search-prices}
    - {stream: SHOP_INVENTORY, consumer: catalog-search-stock}
pricing:
  kind: grpc
  grpcPort: 50052
  metricsPort: 9102
  healthPort: 50050
  grpcService: shop.pricing.v1.PricingService
  database: true
  nats: true
  calls: []
  payments: false
  consumers:
    - {stream: SHOP_INVENTORY, consumer: pricing-dynamic-pricing}
cart:
  kind: grpc
  grpcPort: 50053
  metricsPort: 9103
  healthPort: 50050
  grpcService: shop.cart.v1.CartService
  database: true
  nats: true
  calls: [catalog, pricing, inventory]
  payments: false
  consumers: []
checkout:
  kind: grpc
  grpcPort: 50054
  metricsPort: 9104
  healthPort: 50050
  grpcService: shop.checkout.v1.CheckoutService
  database: true
  nats: true
  calls: [cart, pricing, inventory, order, fraud, catalog, customers]
  payments: true
  consumers:
    - {stream: SHOP_ORDER, consumer: checkout-order-outcomes}
    - {stream: SHOP_FRAUD, consumer: checkout-fraud-reviews}
inventory:
  kind: grpc
  grpcPort: 50055
  metricsPort: 9105
  healthPort: 50050
  grpcService: shop.inventory.v1.InventoryService
  database: true
  nats: true
  calls: []
  payments: false
  consumers: []
order:
  kind: grpc
  grpcPort: 50056
  metricsPort: 9106
  healthPort: 50050
  grpcService: shop.order.v1.OrderService
  database: true
  nats: true
  calls: [inventory, catalog]
  payments: true
  consumers: []
fraud:
  kind: grpc
  grpcPort: 50057
  metricsPort: 9107
  healthPort: 50050
  grpcService: shop.fraud.v1.FraudService
  database: true
  nats: true
  calls: []
  payments: false
  consumers:
    - {stream: SHOP_ORDER, consumer: fraud-order-events}
    - {stream: SHOP_CHECKOUT, consumer: fraud-checkout-events}
notifications:
  kind: grpc
  grpcPort: 50058
  metricsPort: 9109
  healthPort: 50050
  grpcService: shop.notifications.v1.NotificationsService
  database: true
  nats: true
  calls: [order]
  payments: false
  smtp: true
  webhooks: true
  consumers:
    - {stream: SHOP_ORDER, consumer: notifications-order-events}
    - {stream: SHOP_ORDER, consumer: notifications-order-webhooks}
    - {stream: SHOP_INVENTORY, consumer: notifications-inventory-webhooks}
    - {stream: SHOP_PRICING, consumer: notifications-pricing-webhooks}
customers:
  kind: grpc
  grpcPort: 50059
  metricsPort: 9110
  healthPort: 50050
  grpcService: shop.customers.v1.CustomersService
  database: true
  nats: true
  calls: []
  payments: true
  consumers: []
gateway:
  kind: grpc
  grpcPort: 9090
  httpPort: 8080
  metricsPort: 9108
  healthPort: 50050
  grpcService: shop.storefront.v1.StorefrontService
  edge: true
  database: false
  nats: false
  calls: [catalog, pricing, cart, checkout, inventory, order, fraud, customers, notifications]
  payments: false
  consumers: []
sandbox:
  kind: http
  httpPort: 8090
  metricsPort: 8090
  healthPort: 8091
  database: true
  nats: false
  calls: []
  payments: false
  consumers: []
{{- end -}}

{{- define "shop.name" -}}
{{- .Chart.Name -}}
{{- end -}}

{{/* Resource name of one service's objects: <release>-<service>. */}}
{{- define "shop.fullname" -}}
{{- printf "%s-%s" .root.Release.Name .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Standard labels of every resource; .component names the service (or part) it belongs to. */}}
{{- define "shop.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .component | default "service" }}
app.kubernetes.io/part-of: {{ include "shop.name" .root }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one service's pods (stable across upgrades). */}}
{{- define "shop.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component | default "service" }}
{{- end -}}

{{/* Services whose entry is enabled (the sandbox never in production), sorted, as a YAML list. */}}
{{- define "shop.enabledServices" -}}
{{- $names := list -}}
{{- range $name := keys .Values.services | sortAlpha -}}
{{- $svc := include "shop.service" (dict "root" $ "name" $name) | fromYaml -}}
{{- if $svc.enabled -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- end -}}
{{- toYaml $names -}}
{{- end -}}

{{/* One service's effective values: `defaults` with `services.<name>` merged over them. */}}
{{- define "shop.service" -}}
{{- $own := index .root.Values.services .name | default dict -}}
{{- $merged := mustMergeOverwrite (deepCopy .root.Values.defaults) (deepCopy $own) -}}
{{- if and (eq .name "sandbox") (eq .root.Values.environment "production") -}}
{{- $_ := set $merged "enabled" false -}}
{{- end -}}
{{- toYaml $merged -}}
{{- end -}}

{{/* A service's topology entry. */}}
{{- define "shop.topologyOf" -}}
{{- $all := include "shop.topology" . | fromYaml -}}
{{- toYaml (index $all .name) -}}
{{- end -}}

{{/* Image reference of a service: repository:tag, or repository@digest when a digest is known. */}}
{{- define "shop.image" -}}
{{- $img := .svc.image -}}
{{- $repo := $img.repository | default (printf "%s/%s%s" .root.Values.image.registry .root.Values.image.prefix .name) -}}
{{- $digest := $img.digest | default .root.Values.image.digest -}}
{{- if $digest -}}
{{- printf "%s@%s" $repo $digest -}}
{{- else -}}
{{- printf "%s:%s" $repo ($img.tag | default .root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* Name of a service's CloudNativePG cluster (its secret is <cluster>-app). */}}
{{- define "shop.dbCluster" -}}
{{- printf "%s-%s-db" .root.Release.Name .name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: preStop sleep + the server's drain grace + a margin. */}}
{{- define "shop.terminationGrace" -}}
{{- add (int .svc.preStopSleepSeconds) (int (ceil .svc.shutdownGraceSeconds)) (int .svc.terminationMarginSeconds) -}}
{{- end -}}

{{/* Whether callers reach a service through a router (Gateway API) instead of the headless Service. */}}
{{- define "shop.routed" -}}
{{- $svc := include "shop.service" . | fromYaml -}}
{{- if and $svc.canary.enabled $svc.canary.trafficRouting.gatewayAPI.enabled -}}true{{- end -}}
{{- end -}}

{{/* gRPC target of a peer: the headless Service with dns:/// so clients balance round_robin over
every pod; the ClusterIP Service when a router splits its traffic. */}}
{{- define "shop.peerAddress" -}}
{{- $topo := include "shop.topologyOf" . | fromYaml -}}
{{- $host := include "shop.fullname" . -}}
{{- if not (include "shop.routed" .) -}}
{{- $host = printf "%s-headless" $host -}}
{{- end -}}
{{- printf "dns:///%s.%s.svc.cluster.local:%v" $host .root.Release.Namespace $topo.grpcPort -}}
{{- end -}}

{{/* Base URL of the payment provider: the in-cluster sandbox (HTTPS: it asks for the caller's
certificate), or paymentProvider.url. */}}
{{- define "shop.paymentProviderURL" -}}
{{- $sandbox := include "shop.service" (dict "root" .root "name" "sandbox") | fromYaml -}}
{{- if .root.Values.paymentProvider.url -}}
{{- .root.Values.paymentProvider.url -}}
{{- else if $sandbox.enabled -}}
{{- $topo := include "shop.topologyOf" (dict "root" .root "name" "sandbox") | fromYaml -}}
{{- printf "https://%s.%s.svc.cluster.local:%v" (include "shop.fullname" (dict "root" .root "name" "sandbox")) .root.Release.Namespace $topo.httpPort -}}
{{- else -}}
{{- fail "paymentProvider.url is required when the payment sandbox is off (production)" -}}
{{- end -}}
{{- end -}}

{{/* DATABASE_URL of a service, as an env entry. */}}
{{- define "shop.databaseEnv" -}}
{{- $pg := .root.Values.postgres -}}
- name: DATABASE_URL
{{- if eq $pg.mode "cnpg" }}
  valueFrom:
    secretKeyRef:
      name: {{ include "shop.dbCluster" . }}-app
      key: uri
{{- else }}
{{- $ext := index $pg.external .name | default dict }}
{{- if $ext.secretName }}
  valueFrom:
    secretKeyRef:
      name: {{ $ext.secretName }}
      key: {{ $ext.secretKey | default "uri" }}
{{- else if $ext.url }}
  value: {{ $ext.url | quote }}
{{- else }}
{{- fail (printf "postgres.external.%s needs secretName or url (postgres.mode is external)" .name) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The environment of a service's container: serve and migrate use the same, and `serve` adds
what only a server needs (its certificate, the health port). */}}
{{- define "shop.env" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $topo := .topo -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: OTEL_SERVICE_NAME
  value: {{ .name | quote }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $root.Values.otel.endpoint | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  {{- $attrs := list "k8s.pod.name=$(POD_NAME)" "k8s.namespace.name=$(POD_NAMESPACE)" "k8s.node.name=$(NODE_NAME)" (printf "service.version=%s" $root.Chart.AppVersion) }}
  {{- range $k, $v := $root.Values.otel.resourceAttributes }}
  {{- $attrs = append $attrs (printf "%s=%s" $k $v) }}
  {{- end }}
  value: {{ join "," $attrs | quote }}
- name: LOG_LEVEL
  value: {{ $svc.logLevel | quote }}
- name: LOG_FORMAT
  value: json
- name: SHUTDOWN_GRACE_SECONDS
  value: {{ $svc.shutdownGraceSeconds | quote }}
{{- if eq $topo.kind "grpc" }}
- name: GRPC_PORT
  value: {{ $topo.grpcPort | quote }}
- name: METRICS_PORT
  value: {{ $topo.metricsPort | quote }}
- name: MAX_CONNECTION_AGE_SECONDS
  value: {{ $svc.maxConnectionAgeSeconds | quote }}
{{- end }}
{{- if $topo.httpPort }}
- name: HTTP_PORT
  value: {{ $topo.httpPort | quote }}
{{- end }}
{{- if .serve }}
# Service identity (mutual TLS): the component's certificate, key and CA, from its Secret.
{{- $dir := include "shop.tlsMountPath" . }}
- name: TLS_CERT_FILE
  value: {{ printf "%s/tls.crt" $dir | quote }}
- name: TLS_KEY_FILE
  value: {{ printf "%s/tls.key" $dir | quote }}
- name: TLS_CA_FILE
  value: {{ printf "%s/ca.crt" $dir | quote }}
# Plain text, for probes only: {{ if eq $topo.kind "grpc" }}grpc.health.v1{{ else }}/healthz and /readyz{{ end }}.
- name: HEALTH_PORT
  value: {{ $topo.healthPort | quote }}
{{- end }}
{{- if $topo.database }}
{{ include "shop.databaseEnv" (dict "root" $root "name" .name) }}
{{- end }}
{{- if $topo.nats }}
{{- if $root.Values.nats.auth.enabled }}
# Its own NATS user, named after the service (shopkit.natsauth: its own subjects, streams and
# consumers only); the password from the Secret goes into NATS_URL's userinfo.
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.nats.auth.secretName }}
      key: {{ .name }}
- name: NATS_URL
  value: {{ regexReplaceAll "://" $root.Values.nats.url (printf "://%s:$$(NATS_PASSWORD)@" .name) | quote }}
{{- else }}
- name: NATS_URL
  value: {{ $root.Values.nats.url | quote }}
{{- end }}
{{- end }}
{{- range $peer := $topo.calls }}
- name: {{ upper $peer }}_ADDR
  value: {{ include "shop.peerAddress" (dict "root" $root "name" $peer) | quote }}
{{- end }}
{{- if $topo.payments }}
{{- $payments := $root.Values.paymentProvider }}
{{- if eq ($payments.provider | default "sandbox") "stripe" }}
# Stripe (shop_payments' Stripe adapter); the secret key from its Secret, never a value.
- name: PAYMENT_PROVIDER
  value: "stripe"
- name: STRIPE_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ required "paymentProvider.stripe.secretKeyRef.name: the Secret of Stripe's secret key (provider stripe)" $payments.stripe.secretKeyRef.name }}
      key: {{ $payments.stripe.secretKeyRef.key }}
{{- with $payments.stripe.apiBase }}
- name: STRIPE_API_BASE
  value: {{ . | quote }}
{{- end }}
{{- else }}
- name: PAYMENT_PROVIDER
  value: "sandbox"
- name: PAYMENT_PROVIDER_URL
  value: {{ include "shop.paymentProviderURL" (dict "root" $root) | quote }}
{{- end }}
{{- end }}
{{- if $topo.smtp }}
{{- $smtp := $root.Values.smtp }}
# The mail server (values `smtp`); the password from its Secret.
- name: SMTP_HOST
  value: {{ $smtp.host | quote }}
- name: SMTP_PORT
  value: {{ $smtp.port | quote }}
- name: SMTP_STARTTLS
  value: {{ $smtp.starttls | quote }}
- name: SMTP_TLS
  value: {{ $smtp.tls | quote }}
- name: SMTP_USERNAME
  value: {{ $smtp.username | quote }}
- name: MAIL_FROM
  value: {{ $smtp.from | quote }}
{{- if $smtp.passwordSecret.name }}
- name: SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $smtp.passwordSecret.name }}
      key: {{ $smtp.passwordSecret.key }}
{{- end }}
{{- end }}
{{- if eq .name "checkout" }}
# A restarted replica claims its own unfinished sagas at once.
- name: INSTANCE_NAME
  value: $(POD_NAME)
{{- end }}
{{- if and (eq .name "gateway") $root.Values.gateway.devIssuer.enabled }}
# The built-in token issuer (validate.yaml allows it in development only); the pod listens on every
# address, so the gateway wants the explicit statement that only a local network reaches it.
- name: GATEWAY_DEV_MODE
  value: "true"
- name: GATEWAY_DEV_MODE_LOCAL_ONLY
  value: "true"
{{- if $root.Values.gateway.devIssuer.signingKeySecret.name }}
# Every replica signs with the key of the Secret (mounted by the Deployment).
- name: GATEWAY_DATA_DIR
  value: {{ include "shop.devIssuerKeyDir" . | quote }}
{{- end }}
{{- end }}
{{- range $key := keys $svc.env | sortAlpha }}
- name: {{ $key }}
  value: {{ index $svc.env $key | quote }}
{{- end }}
{{- range $key := keys $svc.secretEnv | sortAlpha }}
{{- $ref := index $svc.secretEnv $key }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secretName }}
      key: {{ $ref.key }}
{{- end }}
{{- end -}}

{{/* Where the gateway's dev issuer finds the signing key Secret (its GATEWAY_DATA_DIR). */}}
{{- define "shop.devIssuerKeyDir" -}}
/var/run/shop/dev-issuer
{{- end }}

{{/* Where a component's certificate Secret is mounted (tls.crt, tls.key, ca.crt). */}}
{{- define "shop.tlsMountPath" -}}
/etc/shop/tls
{{- end -}}

{{/* The Secret holding a component's certificate (dict root name): tls.existingSecrets.<name>, else
<release>-<name>-tls, which its Certificate writes. */}}
{{- define "shop.tlsSecretName" -}}
{{- $existing := index .root.Values.tls.existingSecrets .name | default "" -}}
{{- $existing | default (printf "%s-tls" (include "shop.fullname" .)) -}}
{{- end -}}

{{/* Whether the chart issues a component's certificate with cert-manager (dict root name). */}}
{{- define "shop.tlsIssued" -}}
{{- if and .root.Values.tls.certManager.enabled (not (index .root.Values.tls.existingSecrets .name)) -}}true{{- end -}}
{{- end -}}

{{/* DNS names a component's certificate must carry (dict root name), as a YAML list: every name
clients dial it by — the ClusterIP Service (callers through a router, the payment provider URL, helm
test pods), the headless Service (dns:/// peers), with a canary its -stable and -canary Services
(a router's backends) — each short and namespace-qualified. */}}
{{- define "shop.tlsDnsNames" -}}
{{- $svc := include "shop.service" . | fromYaml -}}
{{- $fullname := include "shop.fullname" . -}}
{{- $suffixes := list "" "-headless" -}}
{{- if $svc.canary.enabled -}}
{{- $suffixes = concat $suffixes (list "-stable" "-canary") -}}
{{- end -}}
{{- $names := list -}}
{{- range $suffix := $suffixes -}}
{{- $host := printf "%s%s" $fullname $suffix -}}
{{- $ns := $.root.Release.Namespace -}}
{{- $names = concat $names (list $host (printf "%s.%s" $host $ns) (printf "%s.%s.svc" $host $ns) (printf "%s.%s.svc.cluster.local" $host $ns)) -}}
{{- end -}}
{{- toYaml $names -}}
{{- end -}}

{{/* The certificate Secret as a pod volume (dict root name), readable by the pod's group only. */}}
{{- define "shop.tlsVolume" -}}
- name: tls
  secret:
    secretName: {{ include "shop.tlsSecretName" . }}
    # 0440: the pod's fsGroup owns the files.
    defaultMode: 288
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      - key: ca.crt
        path: ca.crt
{{- end -}}

{{/* Pod Security "restricted": the pod part. */}}
{{- define "shop.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pod Security "restricted": the container part. */}}
{{- define "shop.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* checkov skips of a workload, each with its reason; rendered only where the reason holds. */}}
{{- define "shop.workloadSkips" -}}
{{- $n := 0 -}}
{{- $digest := .svc.image.digest | default .root.Values.image.digest -}}
{{- if not $digest }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: "CKV_K8S_43=Images are pinned by an immutable release tag; set image.digest to pull by digest."
{{- end }}
{{- if ne .root.Values.image.pullPolicy "Always" }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: "CKV_K8S_15=image.pullPolicy is IfNotPresent for local clusters that load images without a registry."
{{- end }}
{{- if not (and .svc.resources.limits .svc.resources.limits.cpu) }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: "CKV_K8S_11=No CPU limit on purpose, CFS throttling adds tail latency to gRPC calls; requests reserve CPU and the HPA scales on it."
{{- end }}
{{- if .secrets }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: "CKV_K8S_35=The services read settings (DATABASE_URL and others) only from environment variables, the 12-factor contract of the kit."
{{- end }}
{{- if .probeless }}
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: "CKV_K8S_8=Runs to completion or serves no port (helm test pod, locust worker), there is nothing to probe."
{{- $n = add1 $n }}
checkov.io/skip{{ $n }}: "CKV_K8S_9=Runs to completion or serves no port (helm test pod, locust worker), there is nothing to probe."
{{- end }}
{{- if eq $n 0 }}
{}
{{- end }}
{{- end -}}

{{/* What autoscalers and PDBs act on: the Rollout when canary releases are on, else the Deployment. */}}
{{- define "shop.scaleTarget" -}}
{{- if .svc.canary.enabled -}}
apiVersion: argoproj.io/v1alpha1
kind: Rollout
{{- else -}}
apiVersion: apps/v1
kind: Deployment
{{- end }}
name: {{ include "shop.fullname" . }}
{{- end -}}

{{/* Fewest replicas a service runs: autoscaling.minReplicas, or replicas. */}}
{{- define "shop.minReplicas" -}}
{{- if eq .svc.autoscaling.mode "none" -}}
{{- .svc.replicas -}}
{{- else -}}
{{- .svc.autoscaling.minReplicas -}}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy egress rules shared by several pods. */}}
{{- define "shop.dnsEgress" -}}
# Cluster DNS.
- to:
    - namespaceSelector:
        matchLabels:
          {{- toYaml .Values.networkPolicy.dns.namespaceLabels | nindent 10 }}
      {{- with .Values.networkPolicy.dns.podLabels }}
      podSelector:
        matchLabels:
          {{- toYaml . | nindent 10 }}
      {{- end }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{- define "shop.natsEgress" -}}
# NATS_URL.
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.nats.namespace | default .Release.Namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .Values.nats.podLabels | nindent 10 }}
  ports:
    - port: {{ .Values.nats.port }}
      protocol: TCP
{{- end -}}

{{- define "shop.collectorEgress" -}}
{{- if .Values.otel.endpoint }}
# OTEL_EXPORTER_OTLP_ENDPOINT.
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.otel.namespace | default .Release.Namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .Values.otel.podLabels | nindent 10 }}
  ports:
    - port: {{ .Values.otel.port }}
      protocol: TCP
{{- end }}
{{- end -}}

{{/* Egress to a service's database (dict root name). */}}
{{- define "shop.databaseEgress" -}}
# DATABASE_URL.
{{- if eq .root.Values.postgres.mode "cnpg" }}
- to:
    - podSelector:
        matchLabels:
          cnpg.io/cluster: {{ include "shop.dbCluster" . }}
  ports:
    - port: 5432
      protocol: TCP
{{- else }}
- {{- with .root.Values.postgres.external.cidrs }}
  to:
    {{- range . }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
  ports:
    - port: {{ .root.Values.postgres.external.port }}
      protocol: TCP
{{- end }}
{{- end -}}
