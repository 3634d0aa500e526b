# Versions and cache locations shared by every script under scripts/.
# Sourced, never executed. Change a version here and the next build lands in a
# fresh cache directory keyed by it; older ones can be deleted by hand.
K8S_VERSION="${AOP_K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${AOP_ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${AOP_HELM_VERSION:-v4.3.2}"
KWOK_VERSION="${AOP_KWOK_VERSION:-v0.7.0}"
AOP_CACHE_DIR="${AOP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/autonomous-operator}"
CP_BIN_DIR="$AOP_CACHE_DIR/control-plane-k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION/bin"

die() { echo "error: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
