"""`obspipe dashboard`: serve the on-call dashboard for the output topics."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import click

from pipeline.settings import load_settings


@click.command("dashboard")
@click.option("--port", type=int, default=None, help="Port (default OBSPIPE_DASHBOARD_PORT; 0 = free).")
@click.option("--from-beginning", is_flag=True, help="Read the output topics from their start, not from now.")
@click.option(
    "--metrics-url",
    "metrics_urls",
    multiple=True,
    help="A worker /metrics URL to show (repeatable); local workers are found via OBSPIPE_RUN_DIR.",
)
def dashboard(port: int | None, from_beginning: bool, metrics_urls: tuple[str, ...]) -> None:
    """Serve the live on-call dashboard and print its URL.

    Reads traces.assembled, alerts.pages, slo.status, oncall.stats and obspipe.dlq from
    OBSPIPE_KAFKA_BOOTSTRAP (an embedded broker is started when unset). With
    OBSPIPE_DASHBOARD_TOKEN set, open the URL with ?token=<token>.
    """
    from pipeline.adapters.infra import ensure_kafka
    from pipeline.dashboard import run_dashboard

    settings = load_settings()
    bootstrap, broker = ensure_kafka(settings)

    def ready(url: str) -> None:
        click.echo(f"dashboard: {url}", nl=True)
        if settings.dashboard_token is not None:
            click.echo("  (token required: append ?token=<OBSPIPE_DASHBOARD_TOKEN>)")
        click.echo(f"  reading Kafka at {bootstrap}; Ctrl-C to stop")

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        await run_dashboard(
            settings,
            bootstrap,
            settings.redis_url,
            port=port,
            from_beginning=from_beginning,
            metrics_urls=metrics_urls,
            on_ready=ready,
        )

    try:
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            asyncio.run(main())
    finally:
        if broker is not None:
            broker.stop()
