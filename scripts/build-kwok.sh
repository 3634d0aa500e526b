#!/usr/bin/env bash
# Builds KWOK (fake nodes that move scheduled pods to Running) from the Go module proxy
# into the cache, keyed by version; prints the binary's path. Used when the local control
# plane runs with AOP_CLUSTER_PODS=1, so worker Deployments get pods that "run".
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"
dir="$AOP_CACHE_DIR/kwok-$KWOK_VERSION/bin"
if [ ! -x "$dir/kwok" ]; then
  command -v go >/dev/null 2>&1 || die "Go is missing: install Go 1.24 or newer to build KWOK"
  mkdir -p "$AOP_CACHE_DIR"
  exec 9>"$AOP_CACHE_DIR/.build.lock"  # one build at a time per cache
  flock 9
fi
if [ ! -x "$dir/kwok" ]; then
  log "building KWOK $KWOK_VERSION"
  mkdir -p "$dir"
  CGO_ENABLED=0 GOBIN="$dir" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi
echo "$dir/kwok"
