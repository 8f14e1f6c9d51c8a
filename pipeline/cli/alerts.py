"""`obspipe alerts classify|replay|tail`: the alert router's decisions, offline or live."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from pipeline.cli.jsonlines import LineErrors, echo_json, json_lines, record_error_text
from pipeline.errors import ConfigError, RecordError
from pipeline.settings import load_settings

if TYPE_CHECKING:
    from pipeline.domain.alerting.model import Alert

# After the last input alert, `replay` runs the timers this much longer by default, so that
# pending groups (group_wait, the transient window) are decided.
REPLAY_TAIL_S = 3600.0


@click.group()
def alerts() -> None:
    """Classify, replay and follow paging decisions (Alertmanager-style routing)."""


@alerts.command()
@click.argument("source", type=click.File("r"), default="-")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Alert config YAML; default: OBSPIPE_ALERT_CONFIG_FILE, else the shipped rules.")
def classify(source: IO[str], config_path: Path | None) -> None:
    """Classify alerts (JSON lines of Alertmanager alerts or webhook payloads from FILE or stdin).

    Prints one JSON line per alert: {fingerprint, class, category, page, reason, rule, runbook_missing}.
    """
    from pipeline.adapters.alerting_files import load_alert_config
    from pipeline.domain.alerting.model import decode_alerts

    classifier = load_alert_config(load_settings(), config_path).classifier
    errors = LineErrors()
    for number, obj in json_lines(source, errors):
        try:
            decoded = decode_alerts(obj, default_now=0.0)
        except RecordError as exc:
            errors.report(number, record_error_text(exc))
            continue
        for alert in decoded:
            echo_json(classifier.classify(alert).to_json(alert.fingerprint))
    raise SystemExit(errors.exit_code())


def _event_time(obj: Mapping[str, Any], alerts: list[Alert]) -> float:
    from pipeline.domain.alerting.model import parse_rfc3339

    at = parse_rfc3339(obj.get("at"), "at")
    if at is not None:
        return at
    return max(a.ends_at if a.status == "resolved" and a.ends_at is not None else a.starts_at for a in alerts)


@alerts.command()
@click.argument("source", type=click.File("r"), default="-")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Alert config YAML (route, inhibit_rules, classification, suppression).")
@click.option("--schedule", "schedule_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="On-call schedule YAML; default: OBSPIPE_SCHEDULE_FILE.")
@click.option("--silences", "silences_path", type=click.File("r"), default=None,
              help="JSON lines of silences {matchers, startsAt, endsAt} to apply.")
@click.option("--until", default=None,
              help="Run timers up to this RFC 3339 time (default: last alert + 1 h).")
def replay(source: IO[str], config_path: Path, schedule_path: Path | None, silences_path: IO[str] | None,
           until: str | None) -> None:
    """Replay timestamped alerts through the router offline.

    Input: JSON lines, each an alert or webhook payload with an optional "at" (RFC 3339; default:
    startsAt, or endsAt when resolved), or {"at", "alert"}. Prints every decision (schema
    alert_decision/v1), then one line per shift (schema oncall_stats/v1).
    """
    from pipeline.adapters.alerting_files import load_alert_config, load_schedule
    from pipeline.domain.alerting.model import decode_alerts, parse_rfc3339
    from pipeline.domain.alerting.pipeline import AlertPipeline
    from pipeline.domain.alerting.silences import SilenceSet, silence_from_json
    from pipeline.domain.alerting.stats import PagingStats

    settings = load_settings()
    config = load_alert_config(settings, config_path)
    schedule = load_schedule(settings, schedule_path)
    silences = SilenceSet()
    errors = LineErrors()
    if silences_path is not None:
        for number, obj in json_lines(silences_path, errors):
            try:
                silences.put(silence_from_json({"id": f"line-{number}", **obj}))
            except (ConfigError, RecordError, KeyError) as exc:
                raise ConfigError(f"silences line {number}: {exc}") from None
    pipeline = AlertPipeline(config.build_router(silences, schedule),
                             PagingStats(schedule, max_shifts=None) if schedule is not None else None)
    last = None
    for number, obj in json_lines(source, errors):
        try:
            body = obj.get("alert", obj) if isinstance(obj, dict) else obj
            decoded = decode_alerts(body)
            now = _event_time(obj if isinstance(obj, dict) else {}, decoded)
        except RecordError as exc:
            errors.report(number, record_error_text(exc))
            continue
        for alert in decoded:
            _print(pipeline.on_alert(alert, now))
        last = now if last is None else max(last, now)
    end = parse_rfc3339(until, "--until") if until else None
    if end is None and last is not None:
        end = last + REPLAY_TAIL_S
    if end is not None:
        _print(pipeline.tick(end))
    if pipeline.stats is not None:
        for shift_stats in sorted(pipeline.stats.by_shift.values(), key=lambda s: s.shift.start):
            echo_json(shift_stats.to_json())
    raise SystemExit(errors.exit_code())


def _print(outputs: Any) -> None:
    for decision in outputs.decisions:
        echo_json(decision.to_json())


@alerts.command()
@click.option("--from-beginning", is_flag=True, help="Start at the oldest record instead of new ones.")
@click.option("--max", "max_records", type=int, default=0, help="Stop after this many records (0 = never).")
@click.option("--timeout", type=float, default=0.0, help="Stop after this many idle seconds (0 = never).")
def tail(from_beginning: bool, max_records: int, timeout: float) -> None:
    """Print paging decisions from alerts.pages (OBSPIPE_TOPIC_PAGES) as they arrive."""
    from confluent_kafka import Consumer

    from pipeline.adapters.kafka.config import bootstrap_of, consumer_config

    settings = load_settings()
    if not settings.kafka_bootstrap:
        raise ConfigError("no Kafka to read from: set OBSPIPE_KAFKA_BOOTSTRAP (e.g. from `obspipe dev up`)")
    conf = consumer_config(settings, f"obspipe-alerts-tail-{time.time_ns()}", bootstrap_of(settings),
                           auto_offset_reset="earliest" if from_beginning else "latest",
                           enable_auto_commit=False)
    consumer = Consumer(conf)
    consumer.subscribe([settings.topic_pages])
    seen, idle_since = 0, time.monotonic()
    try:
        while not max_records or seen < max_records:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                if timeout and time.monotonic() - idle_since > timeout:
                    break
                continue
            idle_since = time.monotonic()
            value = msg.value()
            click.echo(value.decode("utf-8", "replace") if value else "")
            seen += 1
    finally:
        consumer.close()

