"""Fixtures: a fake ingest server (running, or down until started) and a collector factory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from fake_ingest import FakeIngest

from log_collector import LogCollector


@pytest.fixture
def server() -> Iterator[FakeIngest]:
    fake = FakeIngest().start()
    yield fake
    fake.stop()


@pytest.fixture
def down_server() -> Iterator[FakeIngest]:
    """A fake whose port refuses connections until the test calls start()."""
    fake = FakeIngest()
    yield fake
    fake.stop()


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def make_collector(spool_dir: Path) -> Iterator[Callable[..., LogCollector]]:
    made: list[LogCollector] = []

    def make(url: str, **overrides: Any) -> LogCollector:
        # Short timings keep every test bounded; each test overrides what it is about.
        options: dict[str, Any] = {
            "service": "checkout",
            "environment": "test",
            "flush_interval": 0.2,
            "spool_dir": spool_dir,
            "timeout": 2.0,
            "close_timeout": 2.0,
            "backoff_base": 0.02,
            "backoff_max": 0.2,
            "register_atexit": False,
        }
        options.update(overrides)
        collector = LogCollector(url, **options)
        made.append(collector)
        return collector

    yield make
    for collector in made:
        collector.close(timeout=1.0)

