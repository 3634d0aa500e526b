#!/usr/bin/env bash
# Stops exactly the processes scripts/cluster-up.sh started in STATE_DIR (by the PIDs it
# recorded, after checking each still runs the binary it started) and removes their data.
#
#   scripts/cluster-down.sh [STATE_DIR]      (default: .cluster at the repository root)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
state="${1:-$root/.cluster}"
[ -d "$state" ] || { echo "nothing to stop: $state does not exist" >&2; exit 0; }

# Processes the local environment adds (operator, workers, demo stores) record their PIDs
# in the same folder; stop them first, the control plane last.
order=()
if [ -d "$state/pids" ]; then
  for f in "$state"/pids/*.pid; do
    [ -e "$f" ] || continue
    n="$(basename "$f" .pid)"
    case "$n" in etcd|kube-apiserver|redis) ;; *) order+=("$n") ;; esac
  done
  order+=(kube-apiserver etcd redis)
fi

stop() {
  local name=$1 f="$state/pids/$1.pid" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    # A recycled PID belongs to someone else: only signal a process whose command line
    # still mentions this state folder or the binary's name.
    if grep -qa -e "$state" -e "$name" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
}

for n in "${order[@]}"; do stop "$n"; done
rm -rf "$state"
echo "stopped the local environment in $state" >&2
