"""`obspipe traces tail` (assembled traces as they arrive) and `obspipe trace show ID` (a waterfall)."""

from __future__ import annotations

import sys
import uuid

import click
import orjson

from pipeline.errors import ConfigError, InfrastructureError
from pipeline.settings import load_settings


@click.group()
def traces() -> None:
    """Follow the assembled traces on OBSPIPE_TOPIC_TRACES."""


@traces.command()
@click.option("--service", default=None, help="Only traces that touch this service.")
@click.option("--errors", is_flag=True, help="Only traces with at least one ERROR span.")
@click.option(
    "--min-duration-ms", type=float, default=0.0, show_default=True, help="Only traces at least this long."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print each record as one JSON line instead of a summary."
)
@click.option("--from-beginning", is_flag=True, help="Start at the oldest retained record, not at the end.")
@click.option("--limit", type=int, default=0, help="Stop after printing this many traces (0 = never).")
def tail(  # noqa: PLR0917 - one parameter per click option
    service: str | None, errors: bool, min_duration_ms: float, as_json: bool, from_beginning: bool, limit: int
) -> None:
    """Print assembled traces as they arrive, one line each (Ctrl-C to stop).

    Each line: start time (UTC), trace id, revision:reason, root service:operation, span
    count, duration, error count, diagnostic codes. Consumers that keep traces should
    dedupe on (trace id, revision): after a worker crash a revision may arrive twice.
    """
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

    from pipeline.adapters.kafka.config import consumer_config
    from pipeline.cli.trace_view import matches, summary_line

    settings = load_settings()
    if not settings.kafka_bootstrap:
        raise ConfigError("no Kafka to read from: set OBSPIPE_KAFKA_BOOTSTRAP (e.g. from `obspipe dev up`)")
    conf = consumer_config(settings, f"obspipe-tail-{uuid.uuid4().hex[:12]}", enable_auto_commit=False)
    consumer = Consumer(conf)
    topic = settings.topic_traces
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    except KafkaException as exc:
        consumer.close()
        raise InfrastructureError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from None
    if metadata is None or metadata.error is not None:
        consumer.close()
        raise ConfigError(f"topic {topic} does not exist on {settings.kafka_bootstrap}")
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, p, start) for p in sorted(metadata.partitions)])
    printed = 0
    try:
        while not limit or printed < limit:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                value = msg.value()
                if msg.error() is not None or value is None:
                    continue
                try:
                    doc = orjson.loads(value)
                    if not matches(doc, service=service, errors=errors, min_duration_ms=min_duration_ms):
                        continue
                    line = orjson.dumps(doc).decode() if as_json else summary_line(doc)
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    click.echo(
                        f"skipping unreadable record at {topic}[{msg.partition()}]@{msg.offset()}: {exc}",
                        err=True,
                    )
                    continue
                click.echo(line)
                printed += 1
                if limit and printed >= limit:
                    break
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


@click.group()
def trace() -> None:
    """Look at one trace in the Redis trace index."""


@trace.command()
@click.argument("trace_id")
@click.option("--json", "as_json", is_flag=True, help="Print the stored assembled record as JSON.")
@click.option("--width", type=int, default=40, show_default=True, help="Timeline width in characters.")
def show(trace_id: str, as_json: bool, width: int) -> None:
    """Print trace TRACE_ID as a waterfall: tree order, adjusted times, critical path, diagnostics."""
    from rich.console import Console

    from pipeline.adapters.redis.trace_index import RedisTraceIndex
    from pipeline.cli.trace_view import waterfall

    settings = load_settings()
    if not settings.redis_url:
        raise ConfigError("no trace index to read: set OBSPIPE_REDIS_URL (e.g. from `obspipe dev up`)")
    import redis

    index = RedisTraceIndex.from_url(settings.redis_url, prefix=settings.trace_index_prefix)
    try:
        doc = index.get(trace_id.lower())
    except redis.RedisError as exc:
        raise InfrastructureError(f"cannot read the trace index at {settings.redis_url}: {exc}") from None
    finally:
        index.client.close()
    if doc is None:
        click.echo(
            f"obspipe: trace {trace_id} is not in the index (unknown, or older than the TTL)", err=True
        )
        sys.exit(1)
    if as_json:
        click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
        return
    Console(width=max(100, width + 80)).print(waterfall(doc, width=width))
