"""`obspipe topics create|list`: obspipe's Kafka topics on the configured broker."""

from __future__ import annotations

import click

from pipeline.errors import ConfigError
from pipeline.settings import load_settings

_BOOTSTRAP_HELP = "host:port of Kafka; default: OBSPIPE_KAFKA_BOOTSTRAP."


def _bootstrap(option: str | None) -> str:
    settings_bootstrap = load_settings().kafka_bootstrap
    bootstrap = option or settings_bootstrap
    if not bootstrap:
        # An embedded broker started here would vanish with the command: point at a running one.
        raise ConfigError(
            "no Kafka to talk to: set OBSPIPE_KAFKA_BOOTSTRAP (e.g. from `obspipe dev up`) "
            "or pass --bootstrap"
        )
    return bootstrap


@click.group()
def topics() -> None:
    """Create or list obspipe's topics (names and partitions come from OBSPIPE_TOPIC_*)."""


@topics.command("create")
@click.option("--bootstrap", default=None, help=_BOOTSTRAP_HELP)
def create(bootstrap: str | None) -> None:
    """Create every obspipe topic; existing topics are left as they are."""
    from pipeline.adapters.kafka.topics import create_topics

    settings = load_settings()
    for name, outcome in sorted(create_topics(settings, _bootstrap(bootstrap)).items()):
        click.echo(f"{outcome:8} {name}")


@topics.command("list")
@click.option("--bootstrap", default=None, help=_BOOTSTRAP_HELP)
@click.option("--all", "everything", is_flag=True, help="List every topic, not only obspipe's.")
def list_(bootstrap: str | None, everything: bool) -> None:
    """List obspipe's topics with partition counts and configs."""
    from pipeline.adapters.kafka.topics import list_topics

    settings = load_settings()
    infos = list_topics(settings, _bootstrap(bootstrap), everything=everything)
    if not infos:
        click.echo("no topics (run `obspipe topics create`)")
    for info in infos:
        configs = " ".join(f"{k}={v}" for k, v in sorted(info.config.items()))
        click.echo(f"{info.name:32} partitions={info.partitions:<4} {configs}".rstrip())
