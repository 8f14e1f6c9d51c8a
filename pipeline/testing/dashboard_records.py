"""Realistic output-topic records for dashboard tests, built the way the pipeline builds them.

Traces go through the real assembler (`assemble_trace`); pages, SLO status, shift statistics
and dead letters are hand-written following DESIGN.md §3. The story: a checkout request whose
payments service runs on a host with a clock 400 ms behind (the assembler shifts it back inside
its caller), which publishes an order event; a batch consumer in another trace links to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.domain.assembly import assemble_trace
from pipeline.domain.span import Span, SpanLink

MS = 1_000_000
SKEW_NS = 400 * MS  # payments-2's clock runs this far behind the web host's


@dataclass(frozen=True, slots=True)
class LinkedTraces:
    """Two assembled traces linked by a batch consumer, and the ids tests look for."""

    checkout: dict[str, Any]
    batch: dict[str, Any]
    producer_span_id: str
    consumer_span_id: str
    skewed_span_id: str


# (span id, parent, name, service, host, start ms, end ms, kind, extra Span fields)
Row = tuple[str, str | None, str, str, str, float, float, str, dict[str, Any]]


def _spans(trace_id: str, base_ns: int, rows: list[Row]) -> list[Span]:
    return [
        Span(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent,
            name=name,
            start_time_unix_nano=base_ns + int(start_ms * MS),
            end_time_unix_nano=base_ns + int(end_ms * MS),
            service_name=service,
            resource={"service.name": service, "host.name": host},
            kind=kind,  # type: ignore[arg-type]
            **extra,
        )
        for span_id, parent, name, service, host, start_ms, end_ms, kind, extra in rows
    ]


def linked_traces(
    base_ns: int,
    checkout_id: str = "c0ffee" * 5 + "01",
    batch_id: str = "ba7c4" * 6 + "02",
    *,
    error: bool = True,
) -> LinkedTraces:
    """The checkout trace (with skew and an error) and the batch trace linking to its message."""
    sk = SKEW_NS / MS
    failed: dict[str, Any] = {"status_code": "ERROR"} if error else {}
    declined = {**failed, "status_message": "card declined by issuer"} if error else {}
    root, pay, charge = "a000000000000001", "a000000000000004", "a000000000000005"
    checkout: list[Row] = [
        (root, None, "POST /checkout", "frontend", "web-1", 0, 420, "SERVER", {}),
        ("a000000000000002", root, "GET /cart", "frontend", "web-1", 5, 40, "CLIENT", {}),
        ("a000000000000003", "a000000000000002", "cart.get", "cart", "web-1", 8, 36, "SERVER", {}),
        # Runs alongside the cart call and ends first: off the critical path.
        ("a000000000000009", root, "GET /recommendations", "frontend", "web-1", 6, 25, "CLIENT", {}),
        (pay, root, "POST /pay", "frontend", "web-1", 50, 400, "CLIENT", failed),
        # Timed by payments-2, whose clock is SKEW_NS behind: raw times start before the caller's.
        (charge, pay, "charge", "payments", "payments-2", 60 - sk, 390 - sk, "SERVER", declined),
        (
            "a000000000000006",
            charge,
            "SELECT account",
            "payments",
            "payments-2",
            70 - sk,
            150 - sk,
            "CLIENT",
            {"attributes": {"db.system": "postgresql"}},
        ),
        (
            "a000000000000007",
            charge,
            "publish orders",
            "payments",
            "payments-2",
            160 - sk,
            170 - sk,
            "PRODUCER",
            {"attributes": {"messaging.system": "kafka"}},
        ),
        (
            "a000000000000008",
            charge,
            "issuer.authorize",
            "payments",
            "payments-2",
            175 - sk,
            385 - sk,
            "CLIENT",
            {},
        ),
    ]
    link = SpanLink(checkout_id, "a000000000000007", {"messaging.batch.index": 0})
    batch: list[Row] = [
        (
            "b000000000000001",
            None,
            "orders process",
            "fulfilment",
            "batch-1",
            900,
            1_100,
            "CONSUMER",
            {"links": [link]},
        ),
        (
            "b000000000000002",
            "b000000000000001",
            "reserve stock",
            "fulfilment",
            "batch-1",
            910,
            1_050,
            "CLIENT",
            {},
        ),
    ]
    incoming = [{"trace_id": batch_id, "span_id": "b000000000000001", "linked_span_id": "a000000000000007"}]
    return LinkedTraces(
        checkout=assemble_trace(checkout_id, _spans(checkout_id, base_ns, checkout), linked_from=incoming),
        batch=assemble_trace(batch_id, _spans(batch_id, base_ns, batch)),
        producer_span_id="a000000000000007",
        consumer_span_id="b000000000000001",
        skewed_span_id=charge,
    )


def page_record(
    decision: str,
    reason: str,
    alertname: str,
    service: str,
    *,
    at: str,
    oncall: str = "alice",
    shift_id: str = "primary-2026-11-26T08",
    status: str = "firing",
    summary: str = "",
) -> dict[str, Any]:
    """An `alerts.pages` record as the alert router writes it."""
    labels = {"alertname": alertname, "service": service, "severity": "page"}
    return {
        "schema": "alert_page/v1",
        "decision": decision,
        "reason": reason,
        "group_key": f'{{alertname="{alertname}",service="{service}"}}',
        "alerts": [
            {
                "labels": labels,
                "annotations": {"summary": summary},
                "status": status,
                "startsAt": at,
                "endsAt": None,
                "fingerprint": "9f" * 8,
            }
        ],
        "oncall": oncall,
        "shift_id": shift_id,
        "at": at,
    }


def slo_record(
    slo: str,
    burn_rates: dict[str, float | None],
    budget_remaining: float,
    *,
    tier: str,
    time_unix_nano: int,
    firing: list[str] | None = None,
    objective: float = 99.9,
) -> dict[str, Any]:
    """An `slo.status` record."""
    return {
        "schema": "slo_status/v1",
        "slo": slo,
        "objective": objective,
        "period": "30d",
        "burn_rates": burn_rates,
        "budget_remaining": budget_remaining,
        "policy_tier": tier,
        "firing": firing or [],
        "time_unix_nano": time_unix_nano,
    }


def shift_record(
    shift_id: str,
    oncall: str,
    *,
    start: str,
    end: str,
    pages: int,
    night_pages: int,
    non_actionable_ratio: float,
    suppressed: dict[str, int] | None = None,
) -> dict[str, Any]:
    """An `oncall.stats` record; over the target when the shift had 2 pages or more."""
    return {
        "schema": "oncall_stats/v1",
        "shift_id": shift_id,
        "oncall": oncall,
        "start": start,
        "end": end,
        "pages": pages,
        "night_pages": night_pages,
        "suppressed": suppressed or {},
        "non_actionable_ratio": non_actionable_ratio,
        "over_target": pages >= 2,
    }


def dlq_record(reason: str, error: str, *, topic: str = "otlp_spans", offset: int = 0) -> dict[str, Any]:
    """An `obspipe.dlq` record."""
    return {
        "error": error,
        "reason": reason,
        "source": {"topic": topic, "partition": 0, "offset": offset},
        "received_at": "2026-11-26T10:00:00Z",
        "value_b64": "bm90IGpzb24=",
    }
