"""`obspipe silence add|list|expire`: Alertmanager-style silences kept in Redis (OBSPIPE_REDIS_URL)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pipeline.cli.jsonlines import echo_json
from pipeline.errors import ConfigError, InfrastructureError
from pipeline.settings import Settings, load_settings

if TYPE_CHECKING:
    from pipeline.adapters.redis.alert_state import RedisAlertState

T = TypeVar("T")


def _store(settings: Settings) -> RedisAlertState:
    from pipeline.adapters.redis.alert_state import RedisAlertState

    if not settings.redis_url:
        # An embedded Valkey started here would vanish with the command: point at a running one.
        raise ConfigError("no Redis to keep silences in: set OBSPIPE_REDIS_URL (e.g. from `obspipe dev up`)")
    return RedisAlertState.from_url(settings.redis_url, settings.alert_state_prefix)


def _call(fn: Callable[..., T], *args: Any) -> T:
    import redis

    try:
        return fn(*args)
    except (redis.RedisError, OSError) as exc:
        raise InfrastructureError(f"Redis unreachable: {exc}") from None


@click.group()
def silence() -> None:
    """Add, list and expire silences (matchers like Alertmanager's: =, !=, =~, !~)."""


@silence.command()
@click.argument("matchers", nargs=-1, required=True)
@click.option("--duration", default="1h", show_default=True, help="How long: 30m, 2h, 1d.")
@click.option("--start", default=None, help="RFC 3339 start (default: now).")
@click.option("--author", default="", help="Who adds it.")
@click.option("--comment", default="", help="Why.")
def add(matchers: tuple[str, ...], duration: str, start: str | None, author: str, comment: str) -> None:
    """Add a silence, e.g. `obspipe silence add 'alertname="HighCPUUsage"' 'env=~"stag.*"' --duration 2h`.

    Prints the silence as JSON (its `id` is what `expire` takes).
    """
    from pipeline.domain.alerting.model import parse_rfc3339
    from pipeline.domain.alerting.routing import parse_duration
    from pipeline.domain.alerting.silences import new_silence

    begin = parse_rfc3339(start, "--start") if start else None
    begin = time.time() if begin is None else begin
    end = begin + parse_duration(duration, "--duration")
    created = new_silence(list(matchers), begin, end, author, comment)
    _call(_store(load_settings()).put_silence, created)
    echo_json(created.to_json(time.time()))


@silence.command("list")
@click.option("--all", "everything", is_flag=True, help="Include expired silences.")
def list_(everything: bool) -> None:
    """List silences as JSON lines (active and pending; --all adds expired ones)."""
    now = time.time()
    for s in sorted(_call(_store(load_settings()).silences), key=lambda s: s.starts_at):
        if everything or s.state(now) != "expired":
            echo_json(s.to_json(now))


@silence.command()
@click.argument("silence_id")
def expire(silence_id: str) -> None:
    """Expire a silence now (it stays listed with --all)."""
    store = _store(load_settings())
    found = [s for s in _call(store.silences) if s.id == silence_id]
    if not found:
        raise ConfigError(f"no silence with id {silence_id!r} (see `obspipe silence list --all`)")
    expired = found[0].expired_copy(time.time())
    _call(store.put_silence, expired)
    echo_json(expired.to_json(time.time()))
