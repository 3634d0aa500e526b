#!/usr/bin/env python3
"""Writes crds/*.yaml from the pydantic models (via aop_contracts.crdgen).

uv run scripts/gen-crds.py            # regenerate crds/
uv run scripts/gen-crds.py --check    # exit 1 when crds/ is out of date
uv run scripts/gen-crds.py --out DIR  # write somewhere else
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from aop_contracts.crdgen import CRDS, HEADER

ROOT = Path(__file__).resolve().parent.parent


def render(crd: dict[str, Any]) -> str:
    """The YAML text of one CRD, header comment first; keys sorted so diffs stay small."""
    return HEADER + yaml.safe_dump(crd, sort_keys=True, width=100, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "crds", help="output directory")
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 when a file differs"
    )
    args = parser.parse_args(argv)

    stale = []
    for name, build in CRDS.items():
        path: Path = args.out / name
        text = render(build())
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        sys.stderr.write(f"wrote {path}\n")
    if stale:
        names = ", ".join(str(p) for p in stale)
        sys.stderr.write(f"out of date: {names}; run `uv run scripts/gen-crds.py`\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
