"""`obspipe demo`: the whole pipeline on embedded infrastructure with a scripted story."""

from __future__ import annotations

import asyncio
import sys

import click

from pipeline.settings import load_settings


@click.command()
@click.option("--duration", type=click.FloatRange(min=30), default=150.0, show_default=True,
              help="Seconds of traffic; the story (outage, page, recovery) scales to it.")
@click.option("--rate", "orders_per_s", type=click.FloatRange(min=0.5, max=200), default=8.0,
              show_default=True, help="Checkouts per second (about 12 spans each).")
@click.option("--dashboard/--no-dashboard", default=True, show_default=True,
              help="Serve the on-call dashboard during the run.")
def demo(duration: float, orders_per_s: float, dashboard: bool) -> None:
    """Run every stream app on an embedded broker and Valkey with demo services and a story.

    Steady checkout traffic (a skewed payments host, a batch consumer linking to its
    messages), a flapping CPU alert that must not page, then a payments outage that burns
    checkout's error budget and pages the on-call person. Ends with a summary; exits 1 if a
    verdict fails (spans lost, the incident not paged exactly once).
    """
    from rich.console import Console

    from pipeline.demo.runner import run_demo

    settings = load_settings()
    console = Console()
    try:
        result = asyncio.run(run_demo(settings, duration_s=duration, orders_per_s=orders_per_s,
                                      dashboard=dashboard, console=console))
    except KeyboardInterrupt:
        console.print("interrupted: everything stopped")
        sys.exit(130)
    if not (result.zero_spans_lost and result.incident_paged_once):
        sys.exit(1)
