"""RED metrics (rate, errors, duration) per (service, operation, span kind) per tumbling window.

Windows are in event time: a span belongs to the window containing its end time (a request is
counted when it completes). The watermark is the largest end time seen minus the allowed
lateness; a window [start, start + window) closes once the watermark reaches its end. A span for
a window that has already closed is counted in `late_spans` (and reported by the worker), not
folded silently into another window.

Input arrives in bundles, each with an opaque token (the stream event that carried it). Each
closed window lists the tokens of its spans; once the window's records are delivered the caller
`settle`s those tokens, and a token is released when every window holding one of its spans has
been settled, so the input is acknowledged only after all output made from it exists
(at-least-once, DESIGN.md §4).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pipeline.domain.red.sketch import DEFAULT_RELATIVE_ACCURACY, DDSketch
from pipeline.domain.span import Span

RED_SCHEMA = "red_metrics/v1"
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.50), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99))
NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000

T = TypeVar("T", bound=Hashable)
SeriesKey = tuple[str, str, str]  # service, operation, span kind


@dataclass(slots=True)
class _Series:
    """One (service, operation, kind) inside one window."""

    requests: int = 0
    errors: int = 0
    sketch: DDSketch = field(default_factory=DDSketch)


@dataclass(slots=True)
class _Window(Generic[T]):
    series: dict[SeriesKey, _Series] = field(default_factory=dict)
    tokens: list[T] = field(default_factory=list)


@dataclass(slots=True)
class ClosedWindow(Generic[T]):
    """One closed window: its records (key, value) and the tokens to settle once they are delivered."""

    records: list[tuple[str, dict[str, Any]]]
    tokens: list[T]


@dataclass(slots=True)
class Emitted(Generic[T]):
    """What a call produced: closed windows, and tokens that wait for nothing (all late or empty)."""

    windows: list[ClosedWindow[T]] = field(default_factory=list)
    released: list[T] = field(default_factory=list)

    @property
    def records(self) -> list[tuple[str, dict[str, Any]]]:
        return [record for window in self.windows for record in window.records]


def red_key(service: str, operation: str, kind: str, window_start_unix_nano: int) -> str:
    """The record key of DESIGN.md §3: `service|operation|kind|window_start`."""
    return f"{service}|{operation}|{kind}|{window_start_unix_nano}"


class RedAggregator(Generic[T]):
    """Tumbling-window RED aggregation for one input partition."""

    def __init__(
        self,
        window_s: int,
        allowed_lateness_s: int,
        source: str = "",
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> None:
        self.window_ns = window_s * NS_PER_S
        self.lateness_ns = allowed_lateness_s * NS_PER_S
        self.source = source
        self.relative_accuracy = relative_accuracy
        self.windows: dict[int, _Window[T]] = {}
        self.refs: dict[T, int] = {}
        self.max_event_ns: int | None = None
        self.late_spans = 0
        self.spans = 0

    @property
    def watermark_ns(self) -> int | None:
        return None if self.max_event_ns is None else self.max_event_ns - self.lateness_ns

    @property
    def open_windows(self) -> int:
        return len(self.windows)

    def add_bundle(self, spans: Iterable[Span], token: T) -> Emitted[T]:
        """Add one bundle of spans and close the windows the new watermark passes.

        Returns:
            The closed windows, and `token` as released when all its spans were late or it
            held none.
        """
        window_ns = self.window_ns
        # Windows ending at or before the watermark left by earlier bundles are closed: a span
        # for one is late. Within a bundle, order does not matter (bundles are unordered).
        watermark = self.watermark_ns
        touched: dict[tuple[int, SeriesKey], list[float]] = {}
        max_end = self.max_event_ns
        n = late = 0
        windows = self.windows
        for span in spans:
            n += 1
            end = span.end_time_unix_nano
            start = end - end % window_ns
            if watermark is not None and start + window_ns <= watermark:
                late += 1
                continue
            if max_end is None or end > max_end:
                max_end = end
            key: SeriesKey = (span.service_name, span.name, span.kind)
            win = windows.get(start)
            if win is None:
                win = windows[start] = _Window()
            series = win.series.get(key)
            if series is None:
                series = win.series[key] = _Series(sketch=DDSketch(self.relative_accuracy))
            series.requests += 1
            if span.status_code == "ERROR":
                series.errors += 1
            durations = touched.get((start, key))
            if durations is None:
                durations = touched[(start, key)] = []
            durations.append((end - span.start_time_unix_nano) / NS_PER_MS)
        for (start, key), durations in touched.items():
            windows[start].series[key].sketch.add_many(durations)
        starts = {start for start, _ in touched}
        for start in starts:
            windows[start].tokens.append(token)
        self.spans += n
        self.late_spans += late
        self.max_event_ns = max_end
        if starts:
            self.refs[token] = self.refs.get(token, 0) + len(starts)
        emitted = self._close_until(self.watermark_ns)
        if not starts:
            emitted.released.append(token)
        return emitted

    def settle(self, tokens: Iterable[T]) -> list[T]:
        """Mark one delivered window's tokens; returns those whose every window is now delivered."""
        out = []
        refs = self.refs
        for token in tokens:
            left = refs.get(token, 0) - 1
            if left > 0:
                refs[token] = left
            elif left == 0:
                del refs[token]
                out.append(token)
        return out

    def flush(self) -> Emitted[T]:
        """Close every open window (input idle, or shutting down after a clean drain)."""
        if not self.windows:
            return Emitted()
        end = max(self.windows) + self.window_ns
        # Move the watermark past the flushed windows so that a straggler for one of them counts
        # as late instead of re-opening the window under an already emitted key.
        self.max_event_ns = max(self.max_event_ns or end, end + self.lateness_ns)
        return self._close_until(end)

    def _close_until(self, watermark: int | None) -> Emitted[T]:
        out: Emitted[T] = Emitted()
        if watermark is None:
            return out
        ready = sorted(s for s in self.windows if s + self.window_ns <= watermark)
        for start in ready:
            win = self.windows.pop(start)
            out.windows.append(ClosedWindow(self._records(start, win), win.tokens))
        return out

    def _records(self, start: int, win: _Window[T]) -> list[tuple[str, dict[str, Any]]]:
        window_s = self.window_ns // NS_PER_S
        out = []
        for (service, operation, kind), series in win.series.items():
            sketch = series.sketch
            values = sketch.quantiles(q for _, q in PERCENTILES)
            duration = {name: values[i] for i, (name, _) in enumerate(PERCENTILES)}
            duration["max"] = sketch.max
            record = {
                "schema": RED_SCHEMA,
                "service": service,
                "operation": operation,
                "kind": kind,
                "window_start_unix_nano": start,
                "window_s": window_s,
                "requests": series.requests,
                "errors": series.errors,
                "duration_ms": duration,
                "sketch": sketch.to_json(),
                "source": self.source,
            }
            out.append((red_key(service, operation, kind, start), record))
        return out
