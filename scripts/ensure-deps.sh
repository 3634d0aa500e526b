#!/usr/bin/env bash
# Installs what `make test` and `make demo` need and a fresh machine lacks: uv, the Python
# environment from uv.lock, Debian's redis-server and chromium, and the control-plane
# binaries (built once, cached outside the repository). Safe to run again: each step
# checks before it acts.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"
UV_VERSION="0.13.9"

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
[ -x "${AOP_CHROMIUM_PATH:-/usr/lib/chromium/chromium}" ] || need_apt+=(chromium)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  command -v apt-get >/dev/null 2>&1 || die "missing ${need_apt[*]}: install them with your package manager and retry"
  [ -z "$sudo" ] || command -v sudo >/dev/null 2>&1 || die "missing ${need_apt[*]}: run 'apt-get install ${need_apt[*]}' as root and retry"
  log "installing Debian packages: ${need_apt[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v uv >/dev/null 2>&1; then
  log "installing uv $UV_VERSION"
  python3 -m pip install -q "uv==$UV_VERSION" || die "could not install uv: run 'python3 -m pip install uv' and retry"
fi
# Bytecode is compiled into the environment once per lock file: every test starts many
# operator/worker processes, and without .pyc files (PYTHONDONTWRITEBYTECODE=1 is common)
# each of them would compile kubernetes_asyncio & co. from source again (about 2.5 s CPU).
stamp="$root/.venv/.aop-bytecode"
lock_sum="$(sha256sum "$root/uv.lock" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
  (cd "$root" && uv sync --frozen --quiet)
else
  (cd "$root" && uv sync --frozen --quiet --compile-bytecode)
  echo "$lock_sum" >"$stamp"
fi

command -v go >/dev/null 2>&1 || die "Go is missing: install Go 1.24 or newer (https://go.dev/dl) to build the local control plane"
"$here/build-control-plane.sh" >/dev/null
if [ "${AOP_CLUSTER_PODS:-1}" = 1 ] && [ -x "$here/build-kwok.sh" ]; then "$here/build-kwok.sh" >/dev/null; fi
