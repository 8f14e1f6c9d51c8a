"""E2E tier: the CLI, the demo and the dashboard driven from outside, on a real broker and Redis.

Every test here is marked `e2e`. The fixtures are documented in pipeline.testing.fixtures.
"""

from __future__ import annotations

import pytest

from pipeline.testing.fixtures import *  # noqa: F403


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)
