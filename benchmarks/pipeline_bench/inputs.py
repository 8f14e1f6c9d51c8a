"""Benchmark input (OTLP protobuf batches of whole synthetic traces) and the Kafka plumbing that
feeds and reads it with the project's own client configuration."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from pipeline.adapters.kafka.config import consumer_config, producer_config
from pipeline.domain.span import Span
from pipeline.domain.synthetic import SyntheticTraces
from pipeline.settings import Settings
from pipeline.testing.otlp import otlp_request_bytes

PROTO = "application/x-protobuf"
PROTO_HEADERS: list[tuple[str, str | bytes | None]] = [("content-type", PROTO.encode())]
SPANS_PER_TRACE = 10
PARTITIONS = 4

Batches = list[tuple[bytes, int]]


def make_batches(n_spans: int, seed: int, link_ratio: float = 0.0) -> tuple[Batches, dict[str, int]]:
    """OTLP protobuf requests of 100-500 spans (whole traces), and spans per trace id."""
    rng = random.Random(seed)
    source = SyntheticTraces(seed, link_ratio=link_ratio)
    batches: Batches = []
    expected: dict[str, int] = {}
    made = 0
    while made < n_spans:
        spans: list[Span] = []
        for _ in range(rng.randint(10, 50)):  # 10-50 traces of 10 spans = 100-500 spans
            trace = source.trace(SPANS_PER_TRACE)
            expected[trace[0].trace_id] = len(trace)
            spans.extend(trace)
        batches.append((otlp_request_bytes(spans), len(spans)))
        made += len(spans)
    return batches, expected


def produce_all(bootstrap: str, settings: Settings, topic: str, batches: Batches) -> None:
    """Produce every batch, round-robin over the partitions, and wait until all are delivered."""
    producer = Producer(producer_config(settings, bootstrap))
    for i, (value, _) in enumerate(batches):
        producer.produce(topic, value, partition=i % PARTITIONS, headers=PROTO_HEADERS)
        producer.poll(0)
    assert producer.flush(120) == 0


def reader(bootstrap: str, settings: Settings, topic: str, fetch_wait_ms: int = 500) -> Consumer:
    """A consumer on every partition of `topic` from the beginning, with the workers' settings."""
    group = f"bench-{uuid.uuid4().hex[:8]}"
    conf = consumer_config(
        settings, group, bootstrap, enable_auto_commit=False, fetch_wait_max_ms=fetch_wait_ms
    )
    consumer = Consumer(conf)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    return consumer


def read_until(consumer: Consumer, done: Callable[[Any], bool], timeout: float) -> None:
    """Consume until `done(message)` holds; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=1000, timeout=0.2):
            if msg.error() is None and done(msg):
                return
    raise TimeoutError(f"output incomplete after {timeout}s")
