"""Integration tier: a real Kafka-compatible broker and a real Redis, started once per session.

Every test here is marked `integration`. The fixtures are documented in pipeline.testing.fixtures.
"""

from __future__ import annotations

import pytest

from pipeline.testing.fixtures import *  # noqa: F403


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)
