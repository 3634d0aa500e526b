"""``make bench``: run every benchmark, then merge their figures into
``bench/results/latest.json`` and a markdown table ``bench/results/latest.md``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BENCHES = {
    "operator": (HERE / "bench_operator.py", RESULTS / "operator.json"),
    "browser": (HERE / "bench_browser.py", RESULTS / "browser.json"),
}


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    merged: dict[str, object] = {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    rows = ["| benchmark | measurement | n | median ms | worst ms |", "|---|---|---:|---:|---:|"]
    failed = []
    for name, (script, out) in BENCHES.items():
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(script), "--out", str(out)], check=False).returncode:
            failed.append(name)
            continue
        report = json.loads(out.read_text())
        merged[name] = report
        for key, stats in report["results"].items():
            n = stats.get("n", stats.get("runs", ""))
            rows.append(f"| {name} | {key} | {n} | {stats['median_ms']} | {stats['worst_ms']} |")
    (RESULTS / "latest.json").write_text(json.dumps(merged, indent=2) + "\n")
    (RESULTS / "latest.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
