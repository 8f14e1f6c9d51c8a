"""Worker figures for the health view, scraped from the workers' Prometheus endpoints.

Workers on this machine announce their endpoint in `run_dir/metrics/<app>-<pid>.url` (see
`pipeline.adapters.observability.start_metrics_server`); more can be given explicitly. An
announcement whose process is gone is ignored, and an endpoint that does not answer is shown
as down rather than dropped, so a crashed worker stays visible.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

# sample name -> field of a worker row (counters are exposed with the _total suffix)
FIELDS = {
    "obspipe_open_traces": "open_traces",
    "obspipe_open_spans": "open_spans",
    "obspipe_spans_in_total": "spans_in",
    "obspipe_spans_out_total": "spans_out",
    "obspipe_records_in_total": "records_in",
    "obspipe_records_out_total": "records_out",
    "obspipe_dlq_records_total": "dlq",
    "obspipe_consumer_lag": "lag",
}


def announced_urls(run_dir: Path) -> list[str]:
    """Endpoints announced under run_dir/metrics by processes that are still alive."""
    folder = run_dir / "metrics"
    urls: list[str] = []
    for path in sorted(folder.glob("*.url")) if folder.is_dir() else []:
        pid = path.stem.rsplit("-", 1)[-1]
        if not (pid.isdigit() and _alive(int(pid))):
            continue
        try:
            urls.append(path.read_text().strip())
        except OSError:
            continue
    return urls


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parse_worker_metrics(text: str) -> dict[str, dict[str, float]]:
    """Per `app` label: the FIELDS summed over their other labels (partitions, reasons)."""
    apps: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            field = FIELDS.get(sample.name)
            app = sample.labels.get("app")
            if field is None or app is None:
                continue
            row = apps.setdefault(app, {})
            row[field] = row.get(field, 0.0) + sample.value
    return apps


def scrape_workers(urls: Iterable[str], timeout: float = 2.0) -> list[dict[str, Any]]:
    """One row per app per endpoint: {url, app, up, open_traces, spans_in, ...}."""
    rows: list[dict[str, Any]] = []
    for url in dict.fromkeys(urls):  # de-duplicated, order kept
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                text = resp.read().decode()
        except OSError as exc:
            rows.append({"url": url, "app": None, "up": False, "error": str(exc)})
            continue
        for app, values in sorted(parse_worker_metrics(text).items()):
            rows.append({"url": url, "app": app, "up": True, **values})
    return rows
