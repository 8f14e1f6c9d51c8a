"""`obspipe assemble`: spans from a file or stdin -> one assembled trace per line, offline."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import orjson

from pipeline.cli.jsonlines import LineErrors, record_error_text
from pipeline.errors import ObspipeError
from pipeline.settings import load_settings


def _read_input(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ObspipeError(f"cannot read {source}: {exc.strerror or exc}") from None


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.3f} ms"


def summary_text(record: dict[str, Any]) -> str:
    """A few readable lines about one assembled trace (`obspipe assemble --summary`)."""
    s = record["summary"]
    lines = [
        f"trace {record['trace_id']}  root {s['root_service']}: {s['root_name']}  "
        f"{s['span_count']} spans  {_ms(s['duration_ns'])}  errors {s['error_count']}",
        f"  services: {', '.join(s['services'])}",
    ]
    shifts = [sp["clock_skew_ns"] for sp in record["spans"] if sp["clock_skew_ns"]]
    corrections = sum(d["code"] == "CLOCK_SKEW_ADJUSTED" for d in record["diagnostics"])
    if shifts:
        biggest = max(shifts, key=abs)
        lines.append(
            f"  clock skew: {corrections} corrections, {len(shifts)} spans shifted (largest {_ms(biggest)})"
        )
    else:
        lines.append("  clock skew: no correction")
    on_path = [sp for sp in record["spans"] if sp["on_critical_path"]]
    lines.append(
        "  critical path: " + " > ".join(f"{sp['resource']['service.name']}:{sp['name']}" for sp in on_path)
    )
    if record["diagnostics"]:
        lines.extend(f"  {d['code']}  {d['span_id'] or '-'}  {d['message']}" for d in record["diagnostics"])
    else:
        lines.append("  diagnostics: none")
    return "\n".join(lines)


def _write(records: Iterable[dict[str, Any]], summary: bool) -> None:
    out = sys.stdout.buffer
    for record in records:
        if summary:
            out.write(summary_text(record).encode() + b"\n\n")
        else:
            out.write(orjson.dumps(record) + b"\n")
    out.flush()


@click.command()
@click.argument("source", default="-", metavar="[FILE|-]")
@click.option(
    "--max-clock-skew-us",
    type=click.IntRange(min=0),
    default=None,
    help="Largest clock-skew shift applied, in microseconds; 0 disables correction. "
    "[default: OBSPIPE_MAX_CLOCK_SKEW_ADJUSTMENT_US, 600000000 = 10 min]",
)
@click.option("--summary", is_flag=True, help="Print a readable summary per trace instead of JSON.")
def assemble(source: str, max_clock_skew_us: int | None, summary: bool) -> None:
    """Assemble the spans in FILE (or stdin) into traces, one JSON record per line.

    Input: obspipe spans (a JSON object, a JSON array, or JSON lines of either), OTLP JSON
    (`resourceSpans`, as the OpenTelemetry Collector writes it) or OTLP protobuf. The whole input
    is one window: spans are grouped by trace id, and each trace is printed as an
    `assembled_trace/v1` record (schemas/assembled_trace.v1.json) with its tree order, clock-skew
    correction, self times, critical path and diagnostics, including the cross-trace ones
    (LOST_CONTEXT_SUSPECTED, CONTEXT_LEAK_SUSPECTED) found by comparing the traces of the input.

    A bad record is reported on stderr as `line N: <reason>: <message>` and skipped; the exit
    code is then 1. Example:

        obspipe assemble samples/spans.jsonl --summary
    """
    from pipeline.domain.assembly import AssemblyOptions
    from pipeline.domain.codec import Limits, iter_records
    from pipeline.domain.propagation_rules import assemble_with_rules

    overrides = {} if max_clock_skew_us is None else {"max_clock_skew_adjustment_us": max_clock_skew_us}
    settings = load_settings(**overrides)
    options = AssemblyOptions(max_clock_skew_adjustment_ns=settings.max_clock_skew_adjustment_us * 1_000)
    errors = LineErrors()
    spans = []
    for result in iter_records(_read_input(source), limits=Limits.from_settings(settings)):
        if result.error is not None:
            errors.report(result.line, record_error_text(result.error))
        else:
            spans.extend(result.spans)
    _write(assemble_with_rules(spans, assembly=options), summary)
    sys.exit(errors.exit_code())
