"""Fixtures for the operator/worker integration tests."""

from __future__ import annotations

from typing import Any

import pytest
from builders import consent, queue


@pytest.fixture
def ready(kube: Any) -> Any:
    """The default queue and the acme consent exist."""
    kube.apply(queue(), consent())
    return kube
