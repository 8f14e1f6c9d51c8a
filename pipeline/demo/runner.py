"""`obspipe demo`: start the infrastructure and every stream app, play the story, summarise.

Each stream app runs as its own `obspipe worker NAME` process (as in production, where each is
scaled independently); faust runs one app per event loop, and separate processes also let
Ctrl-C stop everything cleanly: the workers get SIGTERM (flush, commit) and then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from rich.console import Console
from rich.live import Live

from pipeline.adapters.infra import ensure_kafka, ensure_redis
from pipeline.adapters.kafka.config import producer_config
from pipeline.adapters.kafka.topics import create_topics
from pipeline.adapters.worker_process import WorkerProcess
from pipeline.demo.noisy_alert import NoisyCpuAlert
from pipeline.demo.observer import QUIET_LOG_LEVEL, Figures, OutputObserver
from pipeline.demo.timeline import Timeline
from pipeline.demo.traffic import ORDERS_TOPIC, DemoTraffic
from pipeline.demo.view import render_live, render_summary
from pipeline.settings import Settings
from stream_apps import APPS

# After the story: SLOs evaluate per minute of *event time*, so steady traffic goes on (event
# time must advance for the outage's minutes to close) until the page is out, at most this long.
PAGE_WAIT_S = 150.0
DRAIN_TIMEOUT_S = 90.0  # after traffic stops: wait this long at most for the last traces


@dataclass
class DemoResult:
    """The demo's verdict, from the output topics."""

    spans_produced: int
    spans_assembled: int
    spans_lost_before_kafka: int
    figures: Figures
    dashboard_url: str | None

    @property
    def zero_spans_lost(self) -> bool:
        return self.spans_lost_before_kafka == 0 and self.spans_assembled == self.spans_produced

    @property
    def incident_paged_once(self) -> bool:
        """The outage paged as exactly one incident (follow-up notifications of an open incident,
        e.g. when another burn-rate clause joins the group, update it rather than page again),
        and nothing else paged."""
        incidents = self.figures.paged_incidents
        return len(incidents) == 1 and all(len(ids) == 1 for ids in incidents.values())


def demo_data(name: str) -> Path:
    """A file shipped in pipeline/data/demo/ (SLOs, alert rules, schedule)."""
    return Path(str(resources.files("pipeline").joinpath(f"data/demo/{name}")))


def demo_settings(settings: Settings, bootstrap: str, redis_url: str) -> Settings:
    """The settings every demo process shares: infrastructure URLs and the demo's config files."""
    update: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "redis_url": redis_url,
        # Shortened so that the story fits in two minutes; production keeps the defaults.
        "transient_window_s": min(settings.transient_window_s, 20.0),
        "idle_timeout_s": min(settings.idle_timeout_s, 3.0),
    }
    if settings.slo_file is None:
        update["slo_file"] = demo_data("slos.yaml")
    if settings.alert_config_file is None:
        update["alert_config_file"] = demo_data("alerting.yaml")
    if settings.schedule_file is None:
        update["schedule_file"] = demo_data("schedule.yaml")
    return settings.model_copy(update=update)


def _create_orders_topic(settings: Settings, bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(ORDERS_TOPIC, num_partitions=1, replication_factor=1)])
    for future in futures.values():
        with contextlib.suppress(Exception):  # already exists
            future.result(30)


async def _wait(
    observer: OutputObserver, done: Callable[[], bool], timeout_s: float, refresh: Callable[[], None]
) -> bool:
    """Poll `done()` (under the observer's lock) every 0.5 s until it holds or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with observer.lock:
            if done():
                return True
        refresh()
        await asyncio.sleep(0.5)
    return False


async def run_demo(
    settings: Settings,
    *,
    duration_s: float,
    orders_per_s: float,
    dashboard: bool,
    console: Console,
) -> DemoResult:
    """Run the whole story; everything started here is stopped before returning."""
    run_dir = settings.run_dir / "demo"
    run_dir.mkdir(parents=True, exist_ok=True)
    timeline = Timeline.for_duration(duration_s)
    stack = contextlib.ExitStack()
    workers: list[WorkerProcess] = []
    running_dashboard = None
    try:
        with console.status("starting the embedded broker and Valkey"):
            bootstrap, broker = ensure_kafka(settings)
            if broker is not None:
                stack.callback(broker.stop)
            redis_url, redis = ensure_redis(settings)
            if redis is not None:
                stack.callback(redis.stop)
            s = demo_settings(settings, bootstrap, redis_url)
            create_topics(s)
            _create_orders_topic(s, bootstrap)
        console.print(f"[bold]Kafka[/] {bootstrap}   [bold]Redis[/] {redis_url}   logs in {run_dir}")
        for name in APPS:
            workers.append(WorkerProcess(name, s, run_dir / f"{name}.log").start())
        console.print(f"started workers: {', '.join(APPS)}")
        observer = OutputObserver(s, bootstrap).start()
        stack.callback(observer.stop)
        dashboard_url = None
        if dashboard:
            from pipeline.dashboard.server import start_dashboard

            running_dashboard = await start_dashboard(s, bootstrap, redis_url, port=s.dashboard_port)
            dashboard_url = running_dashboard.url
            if s.dashboard_token is not None:
                dashboard_url += f"?token={s.dashboard_token.get_secret_value()}"
            console.print(f"[bold green]dashboard:[/] {dashboard_url}")
        traffic = DemoTraffic(s, bootstrap, orders_per_s=orders_per_s).start()
        alert_producer = Producer({**producer_config(s, bootstrap), "log_level": QUIET_LOG_LEVEL})
        noisy = NoisyCpuAlert(alert_producer, s.topic_alerts_raw)
        started = time.monotonic()
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while (elapsed := time.monotonic() - started) < timeline.duration_s:
                if timeline.outage(elapsed):
                    traffic.outage.set()
                else:
                    traffic.outage.clear()
                noisy.update(timeline.cpu_alert_firing(elapsed), time.time())
                live.update(render_live(elapsed, timeline, traffic, observer, workers))
                await asyncio.sleep(0.5)
            traffic.outage.clear()
            noisy.update(False, time.time())
            alert_producer.flush(10)

            def show(phase: str) -> None:
                live.update(
                    render_live(time.monotonic() - started, timeline, traffic, observer, workers, phase=phase)
                )

            def paged() -> bool:
                return bool(observer.figures.paged_incidents) or traffic.stats.failed_checkouts == 0

            def all_assembled() -> bool:
                return observer.figures.spans_assembled >= traffic.spans_delivered

            await _wait(
                observer,
                paged,
                PAGE_WAIT_S,
                lambda: show("recovered; waiting for the outage's minutes to close"),
            )
            await asyncio.to_thread(traffic.stop)
            await _wait(
                observer,
                all_assembled,
                DRAIN_TIMEOUT_S,
                lambda: show("traffic stopped; waiting for the last traces"),
            )
        with observer.lock:
            result = DemoResult(
                spans_produced=traffic.spans_delivered,
                spans_assembled=observer.figures.spans_assembled,
                spans_lost_before_kafka=traffic.spans_lost_before_kafka,
                figures=observer.figures,
                dashboard_url=dashboard_url,
            )
        console.print(render_summary(result, traffic))
        return result
    finally:
        if running_dashboard is not None:
            await running_dashboard.stop()
        for worker in workers:
            await asyncio.to_thread(worker.stop, 20.0)
        stack.close()
