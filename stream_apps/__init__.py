"""obspipe's faust stream apps, one module each; `obspipe worker NAME` runs one of them.

Each entry of APPS names a `build(settings) -> faust.App` function; add a line to add an app.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    import faust

    from pipeline.settings import Settings

APPS: dict[str, str] = {
    "span-ingest": "stream_apps.span_ingest:build",
    "trace-assembler": "stream_apps.trace_assembler:build",
    "red-metrics": "stream_apps.red_metrics:build",
    "slo-burn": "stream_apps.slo_burn:build",
    "alert-router": "stream_apps.alert_router:build",
}


def load_app_builder(name: str) -> Callable[[Settings], faust.App]:
    """The `build` function of app `name`.

    Raises:
        ConfigError: no such app, or its module is not there (yet).
    """
    target = APPS.get(name)
    if target is None:
        raise ConfigError(f"unknown app {name!r}; one of: {', '.join(sorted(APPS))}")
    module_name, attr = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ConfigError(
                f"app {name!r} is not available in this build ({module_name} missing)"
            ) from None
        raise
    builder: Callable[[Settings], faust.App] = getattr(module, attr)
    return builder
