"""The `obspipe` command. Subcommands live one per module and are imported only when used,
so `obspipe assemble` does not pay for importing faust."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from pipeline import __version__
from pipeline.errors import ObspipeError

# command name -> "module:attribute" (a click.Command or click.Group)
SUBCOMMANDS: dict[str, str] = {
    "assemble": "pipeline.cli.assemble:assemble",
    "dev": "pipeline.cli.dev:dev",
    "worker": "pipeline.cli.worker:worker",
    "topics": "pipeline.cli.topics:topics",
    "traces": "pipeline.cli.traces:traces",
    "trace": "pipeline.cli.traces:trace",
    "slo": "pipeline.cli.slo:slo",
    "alerts": "pipeline.cli.alerts:alerts",
    "silence": "pipeline.cli.silence:silence",
    "oncall": "pipeline.cli.oncall:oncall",
    "demo": "pipeline.cli.demo:demo",
    "dashboard": "pipeline.cli.dashboard:dashboard",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use; missing modules are not listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in SUBCOMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command: click.Command = getattr(module, attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="obspipe")
def cli() -> None:
    """obspipe: observability pipeline on Kafka.

    Reconstructs traces online, computes RED metrics and SLO burn, decides which alerts
    page, and keeps paging statistics per on-call shift. Settings come from OBSPIPE_*
    environment variables (see README); without OBSPIPE_KAFKA_BOOTSTRAP / OBSPIPE_REDIS_URL
    an embedded broker and Valkey are started.
    """


def main(argv: list[str] | None = None) -> Any:
    """Entry point: project errors become one line on stderr and exit code 2."""
    try:
        return cli.main(args=argv, prog_name="obspipe", standalone_mode=True)
    except ObspipeError as exc:
        click.echo(f"obspipe: error: {exc}", err=True)
        sys.exit(2)
