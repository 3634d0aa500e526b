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
others=()
if [ -d "$state/pids" ]; then
  for f in "$state"/pids/*.pid; do
    [ -e "$f" ] || continue
    n="$(basename "$f" .pid)"
    case "$n" in etcd|kube-apiserver|redis) ;; *) others+=("$n") ;; esac
  done
fi

# Signal a group together, then wait for all of them: stopping one by one would add up
# every process's shutdown time.
stop_group() {
  local pids=() name f pid
  for name in "$@"; do
    f="$state/pids/$name.pid"
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    rm -f "$f"
    kill -0 "$pid" 2>/dev/null || continue
    # A recycled PID belongs to someone else: only signal a process whose command line
    # still mentions this state folder or the process's name.
    grep -qa -e "$state" -e "$name" "/proc/$pid/cmdline" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  for _ in $(seq 1 100); do
    local left=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" = 1 ] || return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

[ ${#others[@]} -eq 0 ] || stop_group "${others[@]}"
stop_group kube-apiserver redis
stop_group etcd
rm -rf "$state"
echo "stopped the local environment in $state" >&2
