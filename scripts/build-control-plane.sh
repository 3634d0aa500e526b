#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and helm
# from the Go module proxy into a cache directory outside the repository, keyed by
# version (see scripts/versions.sh). Does nothing when every binary is already there.
#
# Why from source: machines here have no Docker engine and no binary downloads, so kind,
# envtest's tarballs and release binaries are out of reach; the module proxy is not.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"

want=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd helm)
missing=()
for b in "${want[@]}"; do [ -x "$CP_BIN_DIR/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$CP_BIN_DIR"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "Go is not installed: install Go 1.24 or newer (https://go.dev/dl) and retry"
# One build at a time per cache (parallel test workers, or make demo beside make test):
# whoever waited finds the binaries there and returns.
mkdir -p "$AOP_CACHE_DIR"
exec 9>"$AOP_CACHE_DIR/.build.lock"
flock 9
missing=()
for b in "${want[@]}"; do [ -x "$CP_BIN_DIR/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$CP_BIN_DIR"
  exit 0
fi
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
work="$AOP_CACHE_DIR/build"
mkdir -p "$CP_BIN_DIR" "$work"
start=$(date +%s)

# k8s.io/kubernetes requires its ~30 staging modules at v0.0.0 and replaces them with
# local paths; a dependent module must replace each with the published v0.X.Y itself.
build_kubernetes() {
  local dir="$work/kubernetes-$K8S_VERSION" minor patch lib
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  patch="$(echo "$K8S_VERSION" | cut -d. -f3)"
  lib="v0.$minor.$patch"
  mkdir -p "$dir"
  (
    cd "$dir"
    [ -f go.mod ] || go mod init aop.local/kubernetes >/dev/null 2>&1
    local gomod
    gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@$K8S_VERSION from the Go module proxy"
    # Every "k8s.io/<name> => ./staging/src/k8s.io/<name>" line names a staging module.
    grep -oE 'k8s.io/[a-z0-9-]+ => ./staging' "$gomod" | awk '{print $1}' | sort -u | while read -r m; do
      go mod edit -replace "$m=$m@$lib"
    done
    go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
    local pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
    for p in "${pkgs[@]}"; do go get -tool "$p@$K8S_VERSION" >/dev/null; done
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION
      -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor
      -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION
      -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    go build -trimpath -ldflags "$ldflags" -o "$CP_BIN_DIR/" "${pkgs[@]}"
  )
}

# etcd's own go.mod carries replace directives, so `go install` refuses it; a one-line
# main around etcdmain in a wrapper module builds the same server.
build_etcd() {
  local dir="$work/etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  (
    cd "$dir"
    [ -f go.mod ] || go mod init aop.local/etcd >/dev/null 2>&1
    cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null
    go mod tidy >/dev/null
    go build -trimpath -ldflags "-s -w" -o "$CP_BIN_DIR/etcd" .
  )
}

build_helm() {
  GOBIN="$CP_BIN_DIR" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
}

for b in "${missing[@]}"; do
  case "$b" in
    kube-*|kubectl) [ -x "$CP_BIN_DIR/kube-apiserver" ] && [ -x "$CP_BIN_DIR/kubectl" ] && [ -x "$CP_BIN_DIR/kube-scheduler" ] && [ -x "$CP_BIN_DIR/kube-controller-manager" ] && continue
      log "building Kubernetes $K8S_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl); 10-20 min on 2 cores the first time"
      build_kubernetes ;;
    etcd) log "building etcd $ETCD_VERSION"; build_etcd ;;
    helm) log "building helm $HELM_VERSION"; build_helm ;;
  esac
done
log "control plane binaries ready in $CP_BIN_DIR ($(( $(date +%s) - start )) s)"
echo "$CP_BIN_DIR"
