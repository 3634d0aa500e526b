"""The source roots must never shadow the standard library."""

import operator
import sysconfig
from pathlib import Path


def test_import_operator_is_the_standard_library() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(operator.__file__).resolve().parent == stdlib
    assert operator.add(2, 3) == 5


def test_source_roots_are_not_packages() -> None:
    root = Path(__file__).resolve().parents[2]
    for source_root in ("operator", "agents"):
        assert not (root / source_root / "__init__.py").exists()
