#!/usr/bin/env bash
# Starts a local control plane (etcd, kube-apiserver, kube-controller-manager, optionally
# kube-scheduler and KWOK) and redis-server on free loopback ports, in the background.
#
#   scripts/cluster-up.sh [STATE_DIR]        (default: .cluster at the repository root)
#
# Writes STATE_DIR/env (KUBECONFIG, REDIS_URL, PATH with kubectl and helm) and
# STATE_DIR/kubeconfig. Idempotent: when every process it started is still alive and the
# API answers, it only prints the env file's path. scripts/cluster-down.sh undoes it.
# With AOP_CLUSTER_PODS=1 (the default) it adds kube-scheduler and KWOK: fake nodes on which
# pods reach Running, so Deployments behave as on a real cluster. AOP_CLUSTER_PODS=0 skips them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"

state="${1:-$root/.cluster}"
mkdir -p "$state"
state="$(cd "$state" && pwd)"
pods="${AOP_CLUSTER_PODS:-1}"

for tool in redis-server openssl curl python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: install it (apt-get install $tool) and retry"
done

alive() { [ -f "$state/pids/$1.pid" ] && kill -0 "$(cat "$state/pids/$1.pid")" 2>/dev/null; }

procs=(etcd kube-apiserver kube-controller-manager redis)
if [ "$pods" = 1 ]; then procs+=(kube-scheduler kwok); fi

if [ -f "$state/env" ]; then
  all=1
  for p in "${procs[@]}"; do alive "$p" || all=0; done
  if [ "$all" = 1 ] && "$state/bin/kubectl" --kubeconfig "$state/kubeconfig" get --raw /readyz >/dev/null 2>&1; then
    log "control plane already running ($state/env)"
    echo "$state/env"
    exit 0
  fi
  log "a previous control plane in $state is incomplete; restarting it"
  "$here/cluster-down.sh" "$state" >/dev/null
  mkdir -p "$state"
fi

bin="$("$here/build-control-plane.sh")"
if [ "$pods" = 1 ]; then kwok_bin="$("$here/build-kwok.sh")"; fi
mkdir -p "$state/pids" "$state/logs" "$state/pki" "$state/bin"
ln -sf "$bin/kubectl" "$state/bin/kubectl"
ln -sf "$bin/helm" "$state/bin/helm"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port); redis_port=$(free_port)

start() {  # name, command...: runs detached from this shell, records its PID
  local name=$1; shift
  nohup setsid "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$state/pids/$name.pid"
}

# PKI: one CA signs the API server's serving certificate; one RSA key signs and verifies
# ServiceAccount tokens. Clients authenticate with a static admin token.
pki="$state/pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=aop-local-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n' >"$pki/san.ext"
openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
  -days 365 -extfile "$pki/san.ext" -out "$pki/apiserver.crt" >/dev/null 2>&1
openssl genrsa -out "$pki/sa.key" 2048 >/dev/null 2>&1
token="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
echo "$token,admin,admin,\"system:masters\"" >"$pki/tokens.csv"

cat >"$state/kubeconfig" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: aop-local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $pki/ca.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: aop-local
  context: {cluster: aop-local, user: admin, namespace: default}
current-context: aop-local
KCFG
chmod 600 "$state/kubeconfig"

t0=$(date +%s.%N)
start etcd "$bin/etcd" --name default --data-dir "$state/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "default=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn

start redis redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
  --dir "$state" --daemonize no --protected-mode yes

start kube-apiserver "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" --token-auth-file "$pki/tokens.csv" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki/sa.key" --service-account-signing-key-file "$pki/sa.key" \
  --authorization-mode RBAC --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true \
  --enable-priority-and-fairness=false --profiling=false

kc=("$bin/kubectl" --kubeconfig "$state/kubeconfig")
deadline=$(( $(date +%s) + 90 ))
until "${kc[@]}" get --raw /readyz >/dev/null 2>&1; do
  for p in etcd kube-apiserver redis; do
    alive "$p" || { tail -n 20 "$state/logs/$p.log" >&2; die "$p exited during start-up (log: $state/logs/$p.log)"; }
  done
  [ "$(date +%s)" -lt "$deadline" ] || die "kube-apiserver not ready after 90 s (log: $state/logs/kube-apiserver.log)"
  sleep 0.3
done

start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$state/kubeconfig" \
  --leader-elect=false --secure-port 0 --service-account-private-key-file "$pki/sa.key" \
  --root-ca-file "$pki/ca.crt" --cluster-cidr 10.1.0.0/16 --allocate-node-cidrs=false \
  --controllers '*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route,-persistentvolume-binder,-attachdetach,-persistentvolume-expander'

if [ "$pods" = 1 ]; then
  start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$state/kubeconfig" --leader-elect=false \
    --secure-port 0 --authentication-kubeconfig "$state/kubeconfig" --authorization-kubeconfig "$state/kubeconfig"
  # Our own pod stages: pods start and get deleted, but only scripts/local_pods.py finishes
  # them (KWOK's defaults would mark Job pods Succeeded without running anything).
  start kwok "$kwok_bin" --kubeconfig "$state/kubeconfig" --manage-all-nodes=true \
    --config "$here/kwok-pod-stages.yaml" \
    --server-address "127.0.0.1:$(free_port)" --cidr 10.1.0.0/16 --node-ip 127.0.0.2
  # Fake nodes for KWOK to keep Ready; the scheduler binds pods to them and KWOK reports
  # those pods Running (no container really starts).
  for n in 0 1; do
    "${kc[@]}" apply -f - >/dev/null <<NODE
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$n
  annotations: {node.alpha.kubernetes.io/ttl: "0", kwok.x-k8s.io/node: fake}
  labels: {kubernetes.io/hostname: kwok-node-$n, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
NODE
  done
fi

until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do
  alive redis || die "redis-server exited during start-up (log: $state/logs/redis.log)"
  sleep 0.1
done
# The default ServiceAccount appears once the controller-manager runs; wait for it so the
# first Pod or `kubectl apply` in a new cluster never races it.
until "${kc[@]}" get serviceaccount default -n default >/dev/null 2>&1; do
  alive kube-controller-manager || die "kube-controller-manager exited (log: $state/logs/kube-controller-manager.log)"
  [ "$(date +%s)" -lt "$deadline" ] || die "no default ServiceAccount after 90 s"
  sleep 0.3
done
elapsed=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")

cat >"$state/env" <<ENV
export KUBECONFIG="$state/kubeconfig"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
export PATH="$state/bin:\$PATH"
ENV
log "control plane ready in ${elapsed} s: API https://127.0.0.1:$api_port, Redis 127.0.0.1:$redis_port"
echo "$state/env"
