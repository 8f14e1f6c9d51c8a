"""`obspipe oncall stats`: paging statistics per on-call shift, from a file of pages or from Redis."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO

import click

from pipeline.cli.jsonlines import LineErrors, echo_json, json_lines, record_error_text
from pipeline.errors import ConfigError, InfrastructureError, RecordError
from pipeline.settings import Settings, load_settings


@click.group()
def oncall() -> None:
    """On-call load: pages, incidents and night pages per shift."""


@oncall.command()
@click.argument("source", type=click.File("r"), required=False)
@click.option("--schedule", "schedule_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Schedule YAML (timezones, shifts, rotations); default: OBSPIPE_SCHEDULE_FILE.")
def stats(source: IO[str] | None, schedule_path: Path | None) -> None:
    """Per-shift figures for JSON lines of pages from PAGES (or - for stdin).

    A page is {"id", "at" (RFC 3339), "service", "actionable": bool, "incident_id"?}. Prints one
    JSON line per shift {shift_id, oncall, start, end, pages, incidents, night_pages,
    non_actionable, over_target, ...}, then one line {"outside_shifts": {...}} for pages no shift
    covers. Without PAGES and --schedule: the current shift's figures from Redis.
    """
    settings = load_settings()
    if source is None and schedule_path is None:
        _current_from_redis(settings)
        return
    from pipeline.adapters.alerting_files import load_schedule
    from pipeline.domain.alerting.stats import PagingStats, page_from_json

    schedule = load_schedule(settings, schedule_path)
    if schedule is None:
        raise ConfigError("no schedule: pass --schedule FILE or set OBSPIPE_SCHEDULE_FILE")
    paging = PagingStats(schedule, max_shifts=None)
    errors = LineErrors()
    for number, obj in json_lines(source if source is not None else sys.stdin, errors):
        try:
            paging.add_page(page_from_json(obj))
        except RecordError as exc:
            errors.report(number, record_error_text(exc))
    for shift_stats in sorted(paging.by_shift.values(), key=lambda s: s.shift.start):
        echo_json(shift_stats.to_json())
    echo_json({"outside_shifts": {"pages": len(paging.outside), "ids": [p.id for p in paging.outside]}})
    raise SystemExit(errors.exit_code())


def _current_from_redis(settings: Settings) -> None:
    import redis

    from pipeline.adapters.alerting_files import load_schedule
    from pipeline.adapters.redis.alert_state import RedisAlertState
    from pipeline.domain.alerting.state import merge_stats, stats_from_json

    if not settings.redis_url:
        raise ConfigError("no Redis to read from: set OBSPIPE_REDIS_URL, or pass --schedule FILE PAGES")
    store = RedisAlertState.from_url(settings.redis_url, settings.alert_state_prefix)
    now = time.time()
    schedule = load_schedule(settings)
    wanted = schedule.shift_at(now) if schedule is not None else None
    try:
        candidates = [wanted.id] if wanted is not None else store.recent_shifts(8)
        for shift_id in candidates:
            parts = [stats_from_json(raw) for raw in store.shift_stats(shift_id).values()]
            if parts and parts[0].shift.start <= now < parts[0].shift.end:
                echo_json(merge_stats(parts).to_json())
                return
    except (redis.RedisError, OSError) as exc:
        raise InfrastructureError(f"Redis unreachable: {exc}") from None
    if wanted is not None:
        from pipeline.domain.alerting.stats import ShiftStats

        echo_json(ShiftStats(wanted).to_json())  # the shift has had no alerts yet
        return
    raise ConfigError("no figures for a current shift in Redis "
                      "(is the alert-router running with a schedule?)")
