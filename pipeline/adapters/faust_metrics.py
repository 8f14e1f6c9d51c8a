"""A faust sensor that feeds `PipelineMetrics`: records in/out and commit latency.

Kept apart from `observability` so that importing the metrics API does not import faust.
Records produced through an app-owned confluent producer do not pass faust's send hooks:
the app counts those itself on `metrics.records_out`.
"""

from __future__ import annotations

import time
from typing import Any

from faust.sensors import Sensor

from pipeline.adapters.observability import PipelineMetrics


class MetricsSensor(Sensor):
    """Counts messages and times commits for one app."""

    def __init__(self, metrics: PipelineMetrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.metrics.records_in.inc()

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        self.metrics.records_out.inc()

    def on_commit_initiated(self, consumer: Any) -> Any:
        return time.perf_counter()

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        if isinstance(state, float):
            self.metrics.commit_latency.observe(time.perf_counter() - state)
