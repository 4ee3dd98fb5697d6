"""Fixtures for the language-server tests.

One daemon serves all the tests that need no special start-up (its torch import and model load are
paid once); tests that need one (remote mode, initializationOptions, another encoding) start their
own. Every daemon uses a results cache in a temporary folder, never the user's ~/.cache.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lsp_harness import Daemon


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One results cache for the test session (never the user's ~/.cache)."""
    return tmp_path_factory.mktemp("tokenlight-cache")


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path):
    """The shared daemon: stdio, default settings, UTF-16 positions."""
    d, _ = Daemon.start(tmp_path_factory.mktemp("daemon"), cache_dir)
    yield d
    d.close()


@pytest.fixture
def new_uri(request: pytest.FixtureRequest):
    """A document URI no other test uses (the shared daemon keeps every test's documents)."""
    counter = iter(range(1000))

    name = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)

    def make(suffix: str = "py") -> str:
        return f"file:///tokenlight-tests/{name}-{next(counter)}.{suffix}"

    return make
