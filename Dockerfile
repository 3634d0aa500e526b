# syntax=docker/dockerfile:1
# One image for both processes of autonomous-operator:
#   operator:  docker run IMAGE                     (runs `aop-operator`, the default command)
#   worker:    docker run IMAGE aop-worker --queue default
# Build:       docker build -t autonomous-operator:dev .
#
# Two stages: the builder installs the locked dependencies and the project into a venv
# with uv; the runtime stage gets that venv, Debian's Chromium and nothing else (no uv, no
# compilers, no source tree). Both stages use the same base image, so the venv's
# interpreter symlinks stay valid when it is copied across.

# Pinned to the Debian release whose Chromium the test-suite drives (bookworm).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------- builder
FROM ${BASE_IMAGE} AS builder
# Same uv as scripts/ensure-deps.sh installs, from PyPI.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

# Compile bytecode now: the runtime root filesystem is read-only. Copy, do not hardlink,
# out of uv's cache. Never download a Python: the base image's is the one to use.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/aop/venv

WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project --no-editable
# Then the project itself, installed as a regular (not editable) package so the venv does
# not point back into /src.
COPY operator/ operator/
COPY agents/ agents/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# ---------------------------------------------------------------------------- runtime
FROM ${BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="autonomous-operator" \
      org.opencontainers.image.description="Kubernetes operator and Playwright workers for queued browser-automation operations" \
      org.opencontainers.image.licenses="Apache-2.0"

# chromium: the browser the agents drive (Debian's build, security-updated with the
# release; Playwright's own browser download is not used). fonts-liberation: pages render
# with metric-compatible fonts. tini: PID 1 that reaps Chromium's orphaned children and
# forwards SIGTERM, so the worker's graceful drain runs.
# Versions are not pinned: Debian replaces them with security updates, which is wanted.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-liberation tini \
    && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
RUN groupadd --system --gid 10001 aop \
    && useradd --system --uid 10001 --gid aop --home-dir /tmp --no-create-home \
        --shell /usr/sbin/nologin aop

COPY --from=builder /opt/aop/venv /opt/aop/venv

# HOME and the artifacts directory live under /tmp, the one writable place (an emptyDir
# in the chart); everything else may be mounted read-only.
ENV PATH=/opt/aop/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    AOP_CHROMIUM_PATH=/usr/lib/chromium/chromium \
    AOP_ARTIFACTS_DIR=/tmp/aop-artifacts \
    AOP_HTTP_PORT=8080

USER 10001:10001
WORKDIR /tmp
# The operator's /healthz, /readyz and /metrics.
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["aop-operator"]
