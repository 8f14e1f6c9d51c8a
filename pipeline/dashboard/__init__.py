"""The on-call dashboard: live pages, shifts, SLO burn, trace waterfalls and pipeline health."""

from __future__ import annotations

from pipeline.dashboard.server import RunningDashboard, build_dashboard, run_dashboard, start_dashboard

__all__ = ["RunningDashboard", "build_dashboard", "run_dashboard", "start_dashboard"]
