"""Helpers for the alerting unit tests: a router built from an inline config."""

from __future__ import annotations

from typing import Any

import pytest
from alerting_helpers import RouterFactory

from pipeline.domain.alerting.config import build_alert_config
from pipeline.domain.alerting.router import AlertRouter
from pipeline.domain.alerting.silences import SilenceSet


@pytest.fixture
def make_router() -> RouterFactory:
    """Build a router from config sections; by default no transient hold and no inhibition."""

    def build(transient: float = 0.0, silences: SilenceSet | None = None, **sections: Any) -> AlertRouter:
        sections.setdefault("route", {"group_by": ["alertname"], "group_wait": "30s",
                                      "group_interval": "5m", "repeat_interval": "1h"})
        sections.setdefault("inhibit_rules", [])
        return build_alert_config(sections, transient_window_s=transient).build_router(silences=silences)

    return build

