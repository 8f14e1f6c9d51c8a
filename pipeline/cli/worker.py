"""`obspipe worker NAME`: run one stream app (a faust worker) against the configured Kafka."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

import click

from pipeline.settings import load_settings

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@click.command()
@click.argument("name")
@click.option("--loglevel", "-l", type=click.Choice(LOG_LEVELS), default="warning", show_default=True)
@click.option(
    "--create-topics/--no-create-topics",
    default=True,
    show_default=True,
    help="Create obspipe's topics first if they are missing (idempotent).",
)
def worker(name: str, loglevel: str, create_topics: bool) -> None:
    """Run the stream app NAME (span-ingest, trace-assembler, red-metrics, slo-burn, alert-router).

    Start more workers with the same NAME to scale out: they share the consumer group
    OBSPIPE_WORKER_GROUP_PREFIX-NAME, up to one per partition. Without OBSPIPE_KAFKA_BOOTSTRAP
    an embedded broker is started for this worker alone (its data is gone when it stops).
    """
    import faust

    from pipeline.adapters.infra import ensure_kafka
    from pipeline.adapters.kafka.topics import create_topics as create_all_topics
    from stream_apps import load_app_builder
    from stream_apps.common import reset_root_logger

    # Until faust installs its own handlers, SIGTERM means "stop now, cleanly" (finally below).
    signal.signal(signal.SIGTERM, _exit_cleanly)
    settings = load_settings()
    build = load_app_builder(name)
    bootstrap, broker = ensure_kafka(settings)
    if broker is not None:
        click.echo(
            f"obspipe: no OBSPIPE_KAFKA_BOOTSTRAP; started an embedded broker at {bootstrap} "
            "for this worker alone (use `obspipe dev up` to share one)",
            err=True,
        )
    try:
        settings = settings.model_copy(update={"kafka_bootstrap": bootstrap})
        if create_topics:
            create_all_topics(settings)
        app = build(settings)
        level = getattr(logging, loglevel.upper())

        async def reset_logging() -> None:
            reset_root_logger(level)

        app.task(reset_logging)

        faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    finally:
        if broker is not None:
            broker.stop()


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    sys.exit(0)
