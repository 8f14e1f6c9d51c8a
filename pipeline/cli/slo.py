"""`obspipe slo replay` (evaluate SLOs on recorded buckets) and `obspipe slo status` (live state)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import click
import orjson

from pipeline.cli.progress import reading
from pipeline.errors import RecordError


@click.group()
def slo() -> None:
    """SLO error-budget burn: offline replay and the live status kept by the slo-burn app."""


@slo.command()
@click.option("--slos", "slos_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="SLO definitions (YAML); `sli` may be omitted.")
@click.option("--alerts/--no-alerts", default=False, show_default=True,
              help="Also print the firing/resolved alerts, as {\"alert\": ...} lines.")
@click.argument("events", required=False, default="-", type=click.File("rb"))
def replay(slos_file: Path, alerts: bool, events: IO[bytes]) -> None:
    """Evaluate SLOs over per-minute buckets, like `promtool test rules` for SLO files.

    EVENTS (default: stdin) holds one JSON object per line:
    {"slo": NAME, "time_unix_nano": BUCKET_START, "good": N, "total": N}. Prints one
    slo_status/v1 record per SLO per minute, from the earliest to the latest minute of the input.
    Bad lines are reported on stderr with their line number and nothing is evaluated.
    """
    from pipeline.domain.slo.definitions import load_slos
    from pipeline.domain.slo.replay import BucketEvent, parse_bucket_line
    from pipeline.domain.slo.replay import replay as run_replay

    definitions = load_slos(slos_file, require_sli=False)
    known = {d.name for d in definitions}
    parsed: list[BucketEvent] = []
    bad = 0
    with reading(events, "reading buckets") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                parsed.append(parse_bucket_line(line, known))
            except RecordError as exc:
                bad += 1
                click.echo(f"obspipe slo replay: line {number}: {exc}", err=True)
    if bad:
        click.echo(f"obspipe slo replay: {bad} bad line(s); nothing evaluated", err=True)
        sys.exit(1)
    out = sys.stdout.buffer
    dumps = orjson.dumps
    for evaluation in run_replay(definitions, parsed):
        out.write(dumps(evaluation.status) + b"\n")
        if alerts:
            for alert in evaluation.alerts:
                out.write(dumps({"alert": alert}) + b"\n")
    out.flush()


@slo.command()
@click.option("--json", "as_json", is_flag=True, help="Print the slo_status/v1 records as JSON lines.")
def status(as_json: bool) -> None:
    """The current status of every SLO, as the slo-burn app last evaluated it (from Redis)."""
    from pipeline.adapters.redis.slo_store import RedisSloStore
    from pipeline.errors import ConfigError
    from pipeline.settings import load_settings

    settings = load_settings()
    if not settings.redis_url:
        raise ConfigError("OBSPIPE_REDIS_URL is not set: `obspipe slo status` reads the slo-burn app's Redis")
    statuses = RedisSloStore.from_url(settings.redis_url, prefix=settings.slo_state_prefix).statuses()
    if as_json:
        for name in sorted(statuses):
            click.echo(orjson.dumps(statuses[name]).decode())
        return
    if not statuses:
        click.echo("no SLO status yet (is the slo-burn worker running?)")
        return
    render_table([statuses[name] for name in sorted(statuses)])


def _rate(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


TIER_STYLE = {"normal": "green", "caution": "yellow", "freeze": "red", "exhausted": "bold red"}


def render_table(records: list[dict[str, Any]]) -> None:
    """A rich table: objective, burn rates per window, budget left, tier, firing clauses."""
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Table

    windows = ["5m", "30m", "1h", "2h", "6h", "24h", "3d"]
    table = Table(title="SLO status (burn rate = error ratio / (1 - objective))")
    for column in ["SLO", "objective", *windows, "budget left", "tier", "firing", "evaluated at (UTC)"]:
        table.add_column(column, justify="right" if column in windows or column == "budget left" else "left")
    for rec in records:
        budget = rec.get("budget_remaining")
        tier = str(rec.get("policy_tier", "?"))
        at = datetime.fromtimestamp(int(rec.get("evaluated_at_unix_nano", 0)) / 1e9, tz=UTC)
        table.add_row(
            str(rec.get("slo")),
            f"{rec.get('objective', 0):g}% / {rec.get('period')}",
            *(_rate(rec.get("burn_rates", {}).get(w)) for w in windows),
            "-" if budget is None else f"{budget * 100:.1f}%",
            f"[{TIER_STYLE.get(tier, 'white')}]{tier}[/]",
            ", ".join(rec.get("firing", [])) or "-",
            at.strftime("%Y-%m-%d %H:%M"),
        )
    Console().print(table)
