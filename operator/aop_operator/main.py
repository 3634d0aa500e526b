"""``aop-operator``: run the kopf operator."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, then hand over to kopf until a signal stops it."""
    parser = argparse.ArgumentParser(
        prog="aop-operator",
        description="Kubernetes operator for AutonomousOperations: validates, enqueues in "
        "BullMQ-compatible Redis, mirrors progress into status and scales workers.",
    )
    parser.add_argument(
        "--namespace",
        help="the operator's own namespace, where OperationQueues live "
        "(env AOP_NAMESPACE; default: the pod's namespace, else 'default')",
    )
    parser.add_argument(
        "--watch-namespace",
        action="append",
        default=[],
        metavar="NS",
        help="serve AutonomousOperations only in NS (repeatable; env AOP_WATCH_NAMESPACES; "
        "default: every namespace)",
    )
    parser.add_argument("--redis-url", help="Redis URL (env AOP_REDIS_URL or REDIS_URL)")
    parser.add_argument("--http-port", type=int, help="port of /healthz and /metrics (8080)")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)

    # Settings are read from the environment once, when the handlers module is imported;
    # command-line flags are applied by writing the environment before that import.
    if args.namespace:
        os.environ["AOP_NAMESPACE"] = args.namespace
    if args.watch_namespace:
        os.environ["AOP_WATCH_NAMESPACES"] = ",".join(args.watch_namespace)
    if args.redis_url:
        os.environ["AOP_REDIS_URL"] = args.redis_url
    if args.http_port is not None:
        os.environ["AOP_HTTP_PORT"] = str(args.http_port)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # kopf logs every handler and timer run at INFO ("Timer ... succeeded" every few
    # seconds per object); the operator's own modules log what matters. API client debug
    # logs print whole response bodies and stay off even with --verbose.
    logging.getLogger("kopf.objects").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    logging.getLogger("kubernetes_asyncio").setLevel(logging.INFO)
    import kopf

    from aop_operator import handlers

    namespaces = list(handlers.SETTINGS.watch_namespaces)
    if namespaces and handlers.SETTINGS.namespace not in namespaces:
        # OperationQueues live in the operator's namespace, which must be watched too.
        namespaces.append(handlers.SETTINGS.namespace)
    kopf.run(standalone=True, clusterwide=not namespaces, namespaces=namespaces)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
