"""Latency at a steady feed rate: release (the assembler's wall-clock header) -> record read, and
the assembler's own release -> delivery histogram scraped before and after."""

from __future__ import annotations

import threading
import time
from urllib.request import urlopen

import orjson
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from pipeline.adapters.assembler_runtime import RELEASED_AT_HEADER
from pipeline.adapters.kafka.config import producer_config
from pipeline.settings import Settings

from .inputs import PARTITIONS, PROTO_HEADERS, make_batches, reader

READER_FETCH_WAIT_MS = 20


def latency_at(bootstrap: str, settings: Settings, spans_per_s: float, seconds: float) -> list[float]:
    """Feed fresh batches at `spans_per_s` for `seconds`; release->read latencies in ms."""
    batches, expected = make_batches(int(spans_per_s * seconds), seed=7)
    # A short fetch wait for this reader only: with the 500 ms default the broker holds each
    # fetch up to 500 ms, which would be measured as pipeline latency. It keeps polling, so it
    # does not starve.
    consumer = reader(bootstrap, settings, settings.topic_traces, fetch_wait_ms=READER_FETCH_WAIT_MS)
    latencies: list[float] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for msg in consumer.consume(num_messages=1000, timeout=0.1):
                if msg.error() is not None:
                    continue
                now = time.time_ns()
                released = dict(msg.headers() or []).get(RELEASED_AT_HEADER)
                if released is not None and orjson.loads(msg.value())["trace_id"] in expected:
                    latencies.append((now - int(released)) / 1e6)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    producer = Producer(producer_config(settings, bootstrap))
    start = time.perf_counter()
    sent = 0
    for i, (value, n) in enumerate(batches):
        due = start + sent / spans_per_s
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        producer.produce(settings.topic_spans_in, value, partition=i % PARTITIONS, headers=PROTO_HEADERS)
        producer.poll(0)
        sent += n
    producer.flush(60)
    deadline = time.monotonic() + 60 + settings.idle_timeout_s
    while len(latencies) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    thread.join(5)
    consumer.close()
    return latencies


def delivery_buckets(port: int) -> dict[float, float]:
    """Cumulative counts of the assembler's release -> delivery histogram, by upper bound (s)."""
    with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "obspipe_trace_release_to_delivery_seconds":
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    out[float(sample.labels["le"])] = sample.value
    return out


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The smallest bucket bound (ms) holding quantile `q` of the observations between two scrapes."""
    bounds = sorted(after)
    total = after[bounds[-1]] - before.get(bounds[-1], 0.0)
    for bound in bounds:
        if total and after[bound] - before.get(bound, 0.0) >= q * total:
            return bound * 1000
    return float("nan")
