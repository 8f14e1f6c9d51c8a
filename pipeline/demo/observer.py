"""Reads obspipe's output topics during the demo and keeps the figures of its summary.

Counting is by key and revision, as any consumer of obspipe should: a trace counts once at its
latest revision, so duplicates after a crash or replay cannot inflate "spans assembled".
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer

from pipeline.adapters.kafka.config import consumer_config
from pipeline.settings import Settings

# librdkafka syslog level 4 (warning): hides the info-level "Disconnected" lines every client
# prints when the embedded broker stops at the end of the demo.
QUIET_LOG_LEVEL = 4


@dataclass
class Figures:
    """What the outputs say so far."""

    traces: dict[str, tuple[int, frozenset[str]]] = field(default_factory=dict)  # id -> (rev, span ids)
    corrected_spans: int = 0
    linked_traces: set[str] = field(default_factory=set)
    decisions: Counter[str] = field(default_factory=Counter)
    paged_groups: Counter[str] = field(default_factory=Counter)  # group key -> page notifications
    paged_incidents: dict[str, set[str]] = field(default_factory=dict)  # group key -> incident ids
    page_records: list[dict[str, Any]] = field(default_factory=list)
    suppressed: Counter[str] = field(default_factory=Counter)
    slo: dict[str, dict[str, Any]] = field(default_factory=dict)
    shifts: dict[str, dict[str, Any]] = field(default_factory=dict)
    dlq: int = 0

    @property
    def spans_assembled(self) -> int:
        return sum(len(ids) for _rev, ids in self.traces.values())


class OutputObserver:
    """A background consumer of traces, pages, SLO status, shift stats and the DLQ."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings = settings
        self.figures = Figures()
        self.lock = threading.Lock()
        self._consumer = Consumer(
            {
                **consumer_config(settings, f"obspipe-demo-observer-{uuid.uuid4().hex[:8]}", bootstrap),
                "log_level": QUIET_LOG_LEVEL,
            }
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-observer", daemon=True)
        s = settings
        self._handlers = {
            s.topic_traces: self._on_trace,
            s.topic_pages: self._on_page,
            s.topic_slo_status: self._on_slo,
            s.topic_oncall_stats: self._on_shift,
            s.topic_dlq: self._on_dlq,
        }

    def start(self) -> OutputObserver:
        self._consumer.subscribe(list(self._handlers))
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(500, 0.2):
                value, topic = msg.value(), msg.topic()
                if msg.error() or value is None or topic not in self._handlers:
                    continue
                try:
                    record = orjson.loads(value)
                except orjson.JSONDecodeError:
                    continue
                with self.lock:
                    self._handlers[topic](record)

    def _on_trace(self, record: dict[str, Any]) -> None:
        trace_id = record.get("trace_id", "")
        revision = int(record.get("revision", 1))
        known = self.figures.traces.get(trace_id)
        if known is not None and known[0] >= revision:
            return
        spans = record.get("spans", [])
        self.figures.traces[trace_id] = (revision, frozenset(s.get("span_id", "") for s in spans))
        self.figures.corrected_spans += sum(1 for s in spans if s.get("clock_skew_ns"))
        if record.get("linked_from"):
            self.figures.linked_traces.add(trace_id)
        if any(link.get("resolved") is not None for link in record.get("links", [])):
            self.figures.linked_traces.add(trace_id)

    def _on_page(self, record: dict[str, Any]) -> None:
        decision = str(record.get("decision", "?"))
        self.figures.decisions[decision] += 1
        if decision == "page":
            group = str(record.get("group_key", ""))
            self.figures.paged_groups[group] += 1
            incident = str(record.get("incident_id") or record.get("id") or "")
            self.figures.paged_incidents.setdefault(group, set()).add(incident)
            self.figures.page_records.append(record)
        elif decision == "suppressed":
            self.figures.suppressed[str(record.get("reason", "?"))] += 1

    def _on_slo(self, record: dict[str, Any]) -> None:
        self.figures.slo[str(record.get("slo", "?"))] = record

    def _on_shift(self, record: dict[str, Any]) -> None:
        self.figures.shifts[str(record.get("shift_id", "?"))] = record

    def _on_dlq(self, _record: dict[str, Any]) -> None:
        self.figures.dlq += 1
