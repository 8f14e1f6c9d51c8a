"""`obspipe dev up`: a local Kafka-compatible broker and Valkey for development, until Ctrl-C."""

from __future__ import annotations

import signal
import threading

import click

from pipeline.settings import load_settings


@click.group()
def dev() -> None:
    """Local development helpers."""


@dev.command()
@click.option("--no-topics", is_flag=True, help="Do not create obspipe's topics.")
def up(no_topics: bool) -> None:
    """Start the embedded broker and Valkey, create the topics, print the exports, wait for Ctrl-C.

    Both keep their data in memory: stopping `dev up` discards it. Set OBSPIPE_KAFKA_BOOTSTRAP /
    OBSPIPE_REDIS_URL beforehand to use servers you run yourself instead (nothing is started then).
    """
    from pipeline.adapters.infra import ensure_kafka, ensure_redis
    from pipeline.adapters.kafka.topics import create_topics

    settings = load_settings()
    bootstrap, broker = ensure_kafka(settings)
    valkey = None
    try:
        redis_url, valkey = ensure_redis(settings)
        if not no_topics:
            created = create_topics(settings.model_copy(update={"kafka_bootstrap": bootstrap}))
            fresh = sum(1 for outcome in created.values() if outcome == "created")
            click.echo(f"# {len(created)} topics ready ({fresh} created)", err=True)
        click.echo(f"export OBSPIPE_KAFKA_BOOTSTRAP={bootstrap}")
        click.echo(f"export OBSPIPE_REDIS_URL={redis_url}")
        if broker is not None:
            click.echo(f"# broker log: {broker.log_path}", err=True)
        click.echo("# running; Ctrl-C stops the broker and Valkey (their data is in memory)", err=True)
        _wait_for_stop_signal()
    finally:
        if valkey is not None:
            valkey.stop()
        if broker is not None:
            broker.stop()
        click.echo("# stopped", err=True)


def _wait_for_stop_signal() -> None:
    """Block until SIGINT or SIGTERM (a terminal's Ctrl-C, or `kill`)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
