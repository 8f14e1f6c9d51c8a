"""The obspipe span: one span, as every codec produces it and the assembler consumes it.

The field names and meanings are those of DESIGN.md §3 (and of OTLP): ids are lowercase hex
strings (32 chars for trace ids, 16 for span ids), times are integer nanoseconds since the epoch.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

SpanKind = Literal["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
StatusCode = Literal["UNSET", "OK", "ERROR"]
SPAN_KINDS: tuple[SpanKind, ...] = ("INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
STATUS_CODES: tuple[StatusCode, ...] = ("UNSET", "OK", "ERROR")

# W3C trace-context flag bit 0: the caller sampled this trace.
FLAG_SAMPLED = 0x01

# Resource attributes that name the host a span's clock belongs to, in order of preference.
HOST_KEYS: tuple[str, ...] = ("host.name", "host.id", "service.instance.id")

Attributes = dict[str, Any]
_HOST_1, _HOST_2, _HOST_3 = HOST_KEYS


class SpanLink(msgspec.Struct, gc=False):
    """A link from a span to a span of (usually) another trace."""

    trace_id: str
    span_id: str
    attributes: Attributes = {}
    trace_state: str = ""


# msgspec structs rather than dataclasses: built in C (a third of the cost of a dataclass
# __init__, and every decoder builds one per span), and untracked by the garbage collector
# (gc=False: a span only refers to dicts, lists and strings, never back to itself), so the
# hundreds of thousands held in the assembler's windows are not traversed by every collection.
class Span(msgspec.Struct, gc=False):
    """One span. Only trace_id, span_id, name, both times and the service name are required."""

    trace_id: str
    span_id: str
    name: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    service_name: str
    parent_span_id: str | None = None
    kind: SpanKind = "INTERNAL"
    status_code: StatusCode = "UNSET"
    status_message: str = ""
    resource: Attributes = {}
    attributes: Attributes = {}
    links: list[SpanLink] = []
    trace_state: str = ""
    flags: int = FLAG_SAMPLED

    @property
    def duration_ns(self) -> int:
        return self.end_time_unix_nano - self.start_time_unix_nano

    @property
    def host(self) -> str | None:
        """The host whose clock timed this span; None when unknown (then it matches no other span)."""
        return span_host(self)

    @property
    def sampled(self) -> bool:
        return bool(self.flags & FLAG_SAMPLED)


# The links of every decoded span without any (every codec gives it), shared: an empty list
# per span would be the one object per held span that the garbage collector tracks (and one
# more allocation per decoded span). Decoded spans are never mutated in place.
NO_LINKS: list[SpanLink] = []


def span_host(span: Span) -> str | None:
    """`Span.host` as a function, the keys unrolled: clock skew and the propagation rules call it
    for every span they look at (a loop over HOST_KEYS costs about three times more)."""
    res = span.resource
    host = res.get(_HOST_1) or res.get(_HOST_2) or res.get(_HOST_3) or None
    return host if host is None or host.__class__ is str else str(host)
