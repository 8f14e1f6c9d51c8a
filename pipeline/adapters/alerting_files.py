"""Reading the alert-routing configuration and on-call schedule files named by settings or flags."""

from __future__ import annotations

from pathlib import Path

from pipeline.domain.alerting.config import AlertConfig, build_alert_config, load_yaml_text
from pipeline.domain.alerting.schedule import Schedule, build_schedule
from pipeline.errors import ConfigError
from pipeline.settings import Settings


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror or exc}") from None


def load_alert_config(settings: Settings, path: Path | None = None) -> AlertConfig:
    """The defaults merged with `path` (or OBSPIPE_ALERT_CONFIG_FILE when set).

    Raises:
        ConfigError: one line naming the file and the bad entry.
    """
    path = path or settings.alert_config_file
    user = load_yaml_text(_read(path, "alert config"), str(path)) if path is not None else None
    try:
        return build_alert_config(user, transient_window_s=settings.transient_window_s)
    except ConfigError as exc:
        raise ConfigError(f"{path or 'alert_rules.yaml'}: {exc}") from None


def load_schedule(settings: Settings, path: Path | None = None) -> Schedule | None:
    """The schedule of `path` (or OBSPIPE_SCHEDULE_FILE), or None when neither is set.

    Raises:
        ConfigError: one line naming the file and the bad entry.
    """
    path = path or settings.schedule_file
    if path is None:
        return None
    doc = load_yaml_text(_read(path, "schedule"), str(path))
    try:
        return build_schedule(doc)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
