"""Show the demo's operations, queue and worker pods live until every operation ends.

    uv run python scripts/demo_watch.py NAME... [--namespace NS] [--timeout SECONDS]

Exits 0 when every named operation Succeeded, 1 otherwise (or on timeout).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

TERMINAL = {"Succeeded", "Failed", "Cancelled"}


def kubectl_json(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        ["kubectl", *args, "-o", "json"], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def snapshot(ns: str, names: list[str]) -> tuple[list[list[str]], dict[str, dict[str, Any]], str]:
    ops = {o["metadata"]["name"]: o for o in kubectl_json("get", "aop", "-n", ns)["items"]}
    rows = []
    for n in names:
        st = ops.get(n, {}).get("status") or {}
        spec = ops.get(n, {}).get("spec") or {}
        prog = st.get("progress") or {}
        rows.append(
            [
                n,
                spec.get("service", "?"),
                st.get("phase", "Pending"),
                f"{prog.get('percent', 0):>3}%",
                str(st.get("attempts", 0)),
                (prog.get("message") or st.get("message") or "")[:48],
            ]
        )
    q = kubectl_json("get", "aopq", "default", "-n", ns).get("status") or {}
    pods = kubectl_json("get", "pods", "-n", ns, "-l", "autonomous.dev/queue=default")["items"]
    running = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running")
    w = q.get("workers") or {}
    queue_line = (
        f"queue default: waiting {q.get('waiting', 0) + q.get('prioritized', 0)}, "
        f"active {q.get('active', 0)}, workers desired {w.get('desired', 0)}, "
        f"pods Running {running}"
    )
    return rows, ops, queue_line


def render(rows: list[list[str]], queue_line: str) -> str:
    head = ["OPERATION", "SERVICE", "PHASE", "PROG", "TRY", "MESSAGE"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)) for r in [head, *rows]]
    return "\n".join([*lines, queue_line])


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("names", nargs="+")
    p.add_argument("--namespace", default="default")
    p.add_argument("--timeout", type=float, default=300)
    a = p.parse_args()
    tty = sys.stdout.isatty()
    deadline = time.monotonic() + a.timeout
    last = ""
    shown_lines = 0
    while True:
        rows, ops, queue_line = snapshot(a.namespace, a.names)
        text = render(rows, queue_line)
        if text != last:
            if tty and shown_lines:
                sys.stdout.write(f"\x1b[{shown_lines}F\x1b[J")
            sys.stdout.write(text + "\n" + ("" if tty else "\n"))
            sys.stdout.flush()
            shown_lines = text.count("\n") + 1
            last = text
        if all(r[2] in TERMINAL for r in rows):
            break
        if time.monotonic() > deadline:
            print(f"timed out after {a.timeout:.0f}s", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print("\nSummary")
    ok = True
    for n in a.names:
        st = ops[n].get("status") or {}
        res = st.get("result") or {}
        ok &= st.get("phase") == "Succeeded"
        where = (
            f"credentials in Secret {a.namespace}/{res['secretName']}"
            if res.get("secretName")
            else "no credentials (simulated job)"
        )
        print(f"  {n}: {st.get('phase')} after {st.get('attempts')} attempt(s); {where}")
        if res.get("summary"):
            print(f"      {res['summary']}")
    print(
        "\nExplore: . .cluster/env && kubectl get aop,aopq && kubectl describe aop "
        f"{a.names[0]}\nStop everything: make down"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
