#!/usr/bin/env bash
# `make demo`: the product end to end on the local control plane.
#
# Starts (or reuses) the control plane + Redis, the operator, the local pod runner (one
# real aop-worker per Running worker pod) and the demo stores; applies examples/; shows a
# live table while the operations run and the worker pods scale; prints a summary; exits
# 0 when every demo operation succeeded. Everything stays up for exploring; `make down`
# stops it. Running it again re-runs the demo operations on the same environment.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"
cd "$root"
state="$root/.cluster"

env_file="$("$here/cluster-up.sh" "$state")"
# shellcheck disable=SC1090
. "$env_file"
ns=default

kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null

alive() { [ -f "$state/pids/$1.pid" ] && kill -0 "$(cat "$state/pids/$1.pid")" 2>/dev/null; }
start() {  # name, command...: a background process of the environment, stopped by `make down`
  local name=$1; shift
  if alive "$name"; then return 0; fi
  nohup setsid "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$state/pids/$name.pid"
  log "started $name (pid $!, log $state/logs/$name.log)"
}

venv="$root/.venv/bin"
port_file="$state/operator.port"
[ -f "$port_file" ] || python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"$port_file"
AOP_NAMESPACE=$ns AOP_REDIS_URL="$REDIS_URL" AOP_RESYNC_SECONDS=5 AOP_QUEUE_STATUS_SECONDS=2 \
  start aop-operator "$venv/aop-operator" --http-port "$(cat "$port_file")"
start local_pods "$venv/python" "$here/local_pods.py" --namespace "$ns" \
  --redis-url "$REDIS_URL" --log-dir "$state/logs/pods"
start demo_stores "$venv/python" "$here/demo_stores.py"

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$(cat "$port_file")/healthz" >/dev/null 2>&1 && break
  alive aop-operator || die "the operator exited; see $state/logs/aop-operator.log"
  sleep 0.2
done
for port in 8081 8082; do
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
    alive demo_stores || die "the demo stores exited (ports 8081/8082 busy?); see $state/logs/demo_stores.log"
    sleep 0.2
  done
done

# A second run starts over: the previous demo operations (and, through their owner
# references, their result Secrets) go, and so does their use of the rate-limit window.
ops=(noop-simulate shopify-credentials woocommerce-credentials)
kubectl delete aop "${ops[@]}" -n "$ns" --ignore-not-found --wait=true >/dev/null
redis-cli -u "$REDIS_URL" --scan --pattern 'aop:default:ratelimit:*' | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null
kubectl apply -n "$ns" -f examples/ >/dev/null
echo "applied examples/: ${ops[*]}"
echo
"$venv/python" "$here/demo_watch.py" --namespace "$ns" "${ops[@]}"
