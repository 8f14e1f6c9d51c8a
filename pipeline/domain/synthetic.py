"""Realistic synthetic traces for benchmarks, tests and demos (seeded, deterministic).

Each trace is a call tree across a handful of services, each service on a few hosts whose clocks
may be off by up to a few milliseconds (so clock-skew correction has work to do), with the
attributes a real HTTP/RPC/database span carries and an occasional link to another trace.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from pipeline.domain.span import Span, SpanKind, SpanLink

SERVICES: tuple[tuple[str, int], ...] = (  # (service, number of hosts)
    ("frontend", 3),
    ("checkout", 2),
    ("cart", 2),
    ("payment", 2),
    ("inventory", 3),
    ("shipping", 1),
)
ROUTES = ("/api/cart", "/api/checkout", "/api/orders/{id}", "/api/products", "/api/shipping/quote")
MS = 1_000_000


def _hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits) | 1:0{bits // 4}x}"  # | 1: never the all-zero id


class SyntheticTraces:
    """A seeded source of traces; `host_skew_ns` maps each host to its clock's error."""

    def __init__(self, seed: int = 1, *, skewed_host_ratio: float = 0.3, link_ratio: float = 0.05) -> None:
        self.rng = random.Random(seed)
        self.link_ratio = link_ratio
        self.hosts = {service: [f"{service}-{k}" for k in range(count)] for service, count in SERVICES}
        self.host_skew_ns = {
            host: (self.rng.randint(-5 * MS, 5 * MS) if self.rng.random() < skewed_host_ratio else 0)
            for hosts in self.hosts.values()
            for host in hosts
        }
        self._recent: list[tuple[str, str]] = []  # (trace id, span id) of earlier traces, to link to

    def trace(self, n_spans: int, start_ns: int = 1_700_000_000_000_000_000) -> list[Span]:
        """One trace of `n_spans` spans (at least 1), in the order a collector would see them."""
        rng = self.rng
        trace_id = _hex(rng, 128)
        services = [name for name, _ in SERVICES]
        # (span id, service, host, true start, true end, depth) of spans that may get children
        nodes: list[tuple[str, str, str, int, int, int]] = []
        spans: list[Span] = []
        root_dur = rng.randint(20, 400) * MS
        kind: SpanKind
        for k in range(max(1, n_spans)):
            if not nodes:
                service, parent, kind = "frontend", None, "SERVER"
                host = rng.choice(self.hosts[service])
                start, end, depth = start_ns, start_ns + root_dur, 0
            else:
                # Prefer recent, shallow parents: realistic fan-out and depth for any n_spans.
                p = nodes[max(0, len(nodes) - 1 - int(rng.expovariate(0.5)))]
                p_id, p_service, p_host, p_start, p_end, p_depth = p
                width = max(1, p_end - p_start)
                start = p_start + int(width * rng.uniform(0.02, 0.6))
                end = start + max(1, int((p_end - start) * rng.uniform(0.1, 0.9)))
                parent, depth = p_id, p_depth + 1
                if rng.random() < 0.5:
                    service, host, kind = p_service, p_host, "INTERNAL"
                else:
                    service = rng.choice(services)
                    host = rng.choice(self.hosts[service])
                    kind = "SERVER" if rng.random() < 0.85 else "CONSUMER"
            span_id = _hex(rng, 64)
            span = self._span(
                trace_id,
                span_id,
                parent=parent,
                service=service,
                host=host,
                kind=kind,
                start=start,
                end=end,
                k=k,
            )
            spans.append(span)
            if depth < 6:
                nodes.append((span_id, service, host, start, end, depth))
        if self._recent and rng.random() < self.link_ratio * len(spans):
            target = rng.choice(self._recent)
            link = SpanLink(trace_id=target[0], span_id=target[1], attributes={"kind": "follows"})
            spans[-1].links = [link]
        self._recent.append((trace_id, spans[0].span_id))
        del self._recent[:-64]
        rng.shuffle(spans)
        return spans

    def _span(
        self,
        trace_id: str,
        span_id: str,
        *,
        parent: str | None,
        service: str,
        host: str,
        kind: SpanKind,
        start: int,
        end: int,
        k: int,
    ) -> Span:
        rng = self.rng
        skew = self.host_skew_ns[host]
        route = ROUTES[k % len(ROUTES)]
        attributes: dict[str, object] = {
            "http.request.method": "GET" if k % 3 else "POST",
            "http.route": route,
        }
        if kind == "SERVER":
            attributes["http.response.status_code"] = 500 if rng.random() < 0.02 else 200
        elif kind == "INTERNAL" and k % 4 == 0:
            attributes = {
                "db.system": "postgresql",
                "db.operation.name": "SELECT",
                "db.collection.name": "orders",
            }
        error = attributes.get("http.response.status_code") == 500
        return Span(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent,
            name=f"{attributes.get('db.operation.name', 'GET')} {route}",
            kind=kind,
            start_time_unix_nano=start + skew,
            end_time_unix_nano=end + skew,
            service_name=service,
            status_code="ERROR" if error else "UNSET",
            status_message="internal error" if error else "",
            resource={
                "service.name": service,
                "host.name": host,
                "service.version": "1.4.2",
                "telemetry.sdk.language": "python",
            },
            attributes=attributes,
        )

    def spans(self, n_traces: int, spans_per_trace: int) -> Iterator[Span]:
        """The spans of `n_traces` traces, trace after trace."""
        for t in range(n_traces):
            yield from self.trace(spans_per_trace, start_ns=1_700_000_000_000_000_000 + t * 10 * MS)
