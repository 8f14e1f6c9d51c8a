"""Terminal views of the demo: a live panel while it runs, a summary when it ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from pipeline.demo.timeline import Timeline

if TYPE_CHECKING:
    from pipeline.adapters.worker_process import WorkerProcess
    from pipeline.demo.observer import OutputObserver
    from pipeline.demo.runner import DemoResult
    from pipeline.demo.traffic import DemoTraffic


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def _burn(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def _slo_table(slos: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="SLOs", expand=True)
    for col in ("slo", "budget left", "tier", "burn 5m", "burn 1h", "firing"):
        table.add_column(col)
    for name, status in sorted(slos.items()):
        burn = status.get("burn_rates") or {}
        firing = ", ".join(
            str(f.get("name", f)) if isinstance(f, dict) else str(f) for f in status.get("firing", [])
        )
        table.add_row(
            name,
            _pct(status.get("budget_remaining")),
            str(status.get("policy_tier", "-")),
            _burn(burn.get("5m")),
            _burn(burn.get("1h")),
            firing or "-",
        )
    return table


def _shift_table(shifts: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="on-call shifts", expand=True)
    for col in ("shift", "on call", "pages", "night", "suppressed", "over target"):
        table.add_column(col)
    for shift_id, st in sorted(shifts.items()):
        suppressed = st.get("suppressed") or {}
        n_supp = sum(suppressed.values()) if isinstance(suppressed, dict) else suppressed
        table.add_row(
            shift_id,
            str(st.get("oncall", "-")),
            str(st.get("pages", 0)),
            str(st.get("night_pages", 0)),
            str(n_supp),
            "yes" if st.get("over_target") else "no",
        )
    return table


def render_live(
    elapsed: float,
    timeline: Timeline,
    traffic: DemoTraffic,
    observer: OutputObserver,
    workers: list[WorkerProcess],
    *,
    phase: str | None = None,
) -> Panel:
    """One refresh of the live panel."""
    with observer.lock:
        f = observer.figures
        assembled = f.spans_assembled
        rate = assembled / elapsed if elapsed > 0 else 0.0
        if phase is None:
            phase = "[red]payments outage[/]" if timeline.outage(elapsed) else "steady traffic"
        head = Table.grid(padding=(0, 2))
        head.add_row(
            f"t={elapsed:5.0f}s / {timeline.duration_s:.0f}s",
            phase,
            f"orders {traffic.stats.orders} (failed {traffic.stats.failed_checkouts})",
        )
        head.add_row(
            f"spans produced {traffic.spans_delivered}",
            f"assembled {assembled} ({rate:,.0f}/s)",
            f"open/in flight {max(0, traffic.spans_delivered - assembled)}",
        )
        head.add_row(
            f"traces {len(f.traces)}",
            f"DLQ {f.dlq}",
            f"decisions {dict(f.decisions)}",
        )
        alive = sum(1 for w in workers if w.alive())
        head.add_row(f"workers alive {alive}/{len(workers)}", "", "")
        body = Group(head, _slo_table(f.slo), _shift_table(f.shifts))
    return Panel(body, title="obspipe demo", border_style="cyan")


def render_summary(result: DemoResult, traffic: DemoTraffic) -> Panel:
    """The closing summary: the story's verdicts, each from the output topics."""
    f = result.figures
    table = Table.grid(padding=(0, 2))
    ok = "[green]yes[/]"
    no = "[red]no[/]"
    table.add_row("spans produced (acked by Kafka)", str(result.spans_produced))
    table.add_row("spans in assembled traces", str(result.spans_assembled))
    table.add_row("zero spans lost", ok if result.zero_spans_lost else no)
    table.add_row("traces assembled", str(len(f.traces)))
    table.add_row("spans corrected for clock skew", str(f.corrected_spans))
    table.add_row("traces with links", str(len(f.linked_traces)))
    table.add_row("orders / failed checkouts", f"{traffic.stats.orders} / {traffic.stats.failed_checkouts}")
    table.add_row(
        "pages by group",
        "; ".join(
            f"{k}: {len(f.paged_incidents.get(k, ()))} incident(s), {v} notification(s)"
            for k, v in f.paged_groups.items()
        )
        or "none",
    )
    table.add_row("incident paged once", ok if result.incident_paged_once else no)
    table.add_row("suppressed by reason", ", ".join(f"{k}: {v}" for k, v in f.suppressed.items()) or "none")
    for name, status in sorted(f.slo.items()):
        table.add_row(
            f"SLO {name}",
            f"budget left {_pct(status.get('budget_remaining'))}, tier {status.get('policy_tier')}",
        )
    table.add_row("DLQ records", str(f.dlq))
    return Panel(table, title="obspipe demo: summary", border_style="green")
