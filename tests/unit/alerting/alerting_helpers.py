"""Helpers for the alerting unit tests."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.domain.alerting.model import Alert
from pipeline.domain.alerting.router import AlertRouter

RouterFactory = Callable[..., AlertRouter]


def alert(name: str, start: float = 0.0, end: float | None = None, **labels: str) -> Alert:
    """An alert with `alertname=name` plus labels (and a runbook); resolved when `end` is given."""
    return Alert(labels={"alertname": name, **labels}, starts_at=start, ends_at=end,
                 status="resolved" if end is not None else "firing",
                 annotations={"runbook_url": "https://runbooks/x"})
