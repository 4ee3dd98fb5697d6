"""Fixtures for the engine tests (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _knn_cache(tmp_path, monkeypatch):
    """Discretized IG's kNN graphs go to a fresh folder, never the user's cache."""
    monkeypatch.setenv("TOKENLIGHT_CACHE_DIR", str(tmp_path))
