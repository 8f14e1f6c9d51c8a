"""Self-observability: the Prometheus metrics every obspipe worker exposes on an HTTP port.

A worker builds one `PipelineMetrics` for its app name and increments its instruments where
the work happens (`metrics.spans_in.inc(len(bundle))`, `metrics.dlq_record("decode_error")`);
`start_metrics_server(settings, metrics)` serves them on `settings.metrics_port` (0 = a free
port) and logs the URL. For a faust app, `instrument_faust_app(app, name, settings)` does both
and also feeds records in/out, commit latency and consumer lag from faust's sensor hooks.

Each `PipelineMetrics` owns its own `CollectorRegistry` so several apps in one process (the
demo) and tests never collide on metric names; the series carry an `app` label.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger(__name__)

# Commit latency buckets (seconds): a local commit takes ~1 ms, a slow broker up to seconds.
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PipelineMetrics:
    """The instruments of one stream app, already bound to its `app` label.

    Attributes (all take `.inc(n)` / `.set(v)` / `.observe(s)` as Prometheus instruments do):
        records_in, records_out: Kafka records consumed / produced. In a faust app instrumented
            with `instrument_faust_app`, its sensor already counts every record faust reads
            (records_in) and sends (records_out); the app adds only what bypasses faust, e.g.
            records produced through its own confluent producer.
        spans_in, spans_out: spans inside those records.
        open_traces, open_spans: trace windows held in memory right now.
        commit_latency: seconds from commit request to broker acknowledgement.
    """

    def __init__(self, app: str, registry: CollectorRegistry | None = None) -> None:
        self.app = app
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._records_in = Counter("obspipe_records_in", "Kafka records consumed.", ["app"], registry=r)
        self._records_out = Counter("obspipe_records_out", "Kafka records produced.", ["app"], registry=r)
        self._spans_in = Counter("obspipe_spans_in", "Spans consumed.", ["app"], registry=r)
        self._spans_out = Counter("obspipe_spans_out", "Spans produced.", ["app"], registry=r)
        self._dlq = Counter(
            "obspipe_dlq_records", "Records sent to the dead-letter topic.", ["app", "reason"], registry=r
        )
        self._open_traces = Gauge("obspipe_open_traces", "Trace windows held open.", ["app"], registry=r)
        self._open_spans = Gauge("obspipe_open_spans", "Spans held in open windows.", ["app"], registry=r)
        self._lag = Gauge(
            "obspipe_consumer_lag",
            "High watermark minus committed offset (approximate: the embedded broker's watermark "
            "is one batch short).",
            ["app", "topic", "partition"],
            registry=r,
        )
        self._commit = Histogram(
            "obspipe_commit_latency_seconds",
            "Offset commit latency.",
            ["app"],
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self.records_in = self._records_in.labels(app=app)
        self.records_out = self._records_out.labels(app=app)
        self.spans_in = self._spans_in.labels(app=app)
        self.spans_out = self._spans_out.labels(app=app)
        self.open_traces = self._open_traces.labels(app=app)
        self.open_spans = self._open_spans.labels(app=app)
        self.commit_latency = self._commit.labels(app=app)

    def dlq_record(self, reason: str, n: int = 1) -> None:
        """Count `n` records sent to the dead-letter topic for `reason` (a RecordError.reason)."""
        self._dlq.labels(app=self.app, reason=reason).inc(n)

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        """Record the lag of one input partition (negative values, a watermark race, become 0)."""
        self._lag.labels(app=self.app, topic=topic, partition=str(partition)).set(max(0, lag))

    def forget_partition(self, topic: str, partition: int) -> None:
        """Drop the lag series of a partition this worker no longer owns (after a rebalance)."""
        with suppress(KeyError):
            self._lag.remove(self.app, topic, str(partition))

    @contextmanager
    def time_commit(self) -> Iterator[None]:
        """Observe the duration of the enclosed commit in `commit_latency`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.commit_latency.observe(time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class MetricsEndpoint:
    """A running metrics HTTP server; `close()` stops it (idempotent)."""

    host: str
    port: int
    _server: Any

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve_metrics(metrics: PipelineMetrics, host: str = "127.0.0.1", port: int = 0) -> MetricsEndpoint:
    """Serve `metrics` at http://host:port/metrics from a daemon thread; port 0 picks a free one."""
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    endpoint = MetricsEndpoint(host=host, port=int(server.server_port), _server=server)
    log.info("%s metrics at %s", metrics.app, endpoint.url)
    return endpoint


def start_metrics_server(settings: Settings, metrics: PipelineMetrics) -> int:
    """Serve `metrics` on settings.web_host:settings.metrics_port and return the bound port.

    A fixed port that is taken (e.g. several apps in one process, all given the same
    OBSPIPE_METRICS_PORT) falls back to a free port with a warning rather than failing the worker.
    The URL is announced in `run_dir/metrics/<app>-<pid>.url`, where the dashboard finds it.
    """
    try:
        endpoint = serve_metrics(metrics, settings.web_host, settings.metrics_port)
    except OSError as exc:
        if settings.metrics_port == 0:
            raise
        log.warning("%s: metrics port %d unavailable (%s); using a free port", metrics.app,
                    settings.metrics_port, exc)
        endpoint = serve_metrics(metrics, settings.web_host, 0)
    announce(settings.run_dir, metrics.app, endpoint.url)
    return endpoint.port


def announce(run_dir: Path, app: str, url: str) -> Path | None:
    """Write `url` to run_dir/metrics/<app>-<pid>.url; best effort (None if it cannot be written)."""
    path = run_dir / "metrics" / f"{app}-{os.getpid()}.url"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(url + "\n")
    except OSError as exc:
        log.warning("cannot announce %s metrics in %s: %s", app, path, exc)
        return None
    return path


def instrument_faust_app(
    app: Any, name: str, settings: Settings, lag_interval_s: float = 5.0
) -> PipelineMetrics:
    """Give a faust app its metrics and endpoint with one call (before `app.main()`/worker start).

    Adds a sensor that counts records in/out and times commits, a timer that refreshes consumer
    lag every `lag_interval_s`, and starts the HTTP endpoint when the app starts. The app's own
    code still counts spans, open traces and DLQ records on the returned object.
    """
    from pipeline.adapters.faust_metrics import MetricsSensor

    metrics = PipelineMetrics(name)
    app.sensors.add(MetricsSensor(metrics))

    async def _serve_metrics() -> None:
        start_metrics_server(settings, metrics)

    async def _refresh_lag() -> None:
        # A metric must never take a worker down: during a partition handover faust's
        # highwater() is None or raises, and the assignment can change under the loop.
        try:
            consumer = app.consumer
            for tp in list(consumer.assignment()):
                committed = consumer._committed_offset.get(tp)  # faust keeps no public accessor
                try:
                    high = consumer.highwater(tp)
                except Exception:  # not fetched yet on this partition: no figure, not a wrong one
                    continue
                if high is None:
                    continue
                metrics.set_lag(tp.topic, tp.partition, high - (committed or 0))
        except Exception:
            log.debug("consumer lag not available now", exc_info=True)

    app.task(_serve_metrics)
    app.timer(lag_interval_s)(_refresh_lag)
    return metrics
