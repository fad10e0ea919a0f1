"""Fixtures for reprozoo.data tests: a local HTTP server and quick retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reprozoo.data import download as download_mod

from .fileserver import FileServer


@pytest.fixture
def server() -> Iterator[FileServer]:
    """A fresh :class:`FileServer` on 127.0.0.1 for one test."""
    with FileServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry without waiting, so retry tests stay fast."""
    monkeypatch.setattr(download_mod, "_BACKOFF_BASE_S", 0.0)
