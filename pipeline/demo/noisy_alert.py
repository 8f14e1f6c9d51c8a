"""The demo's noisy cause alert: a CPU alert on one host that fires and resolves over and over.

It is published to `alerts.raw` as Alertmanager would send it (a webhook payload, version 4),
re-sent while firing as Alertmanager re-sends active alerts. The alert router must not page
for it: it is a cause, not a symptom, and it flaps.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from confluent_kafka import Producer

LABELS = {"alertname": "HighCPUUsage", "instance": "worker-1:9100", "job": "node", "severity": "warning"}
ANNOTATIONS = {"summary": "CPU above 90% on worker-1", "runbook_url": "https://runbooks.example/cpu"}


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def webhook_payload(firing: bool, started_at: float, now: float) -> dict[str, object]:
    """One Alertmanager webhook payload (version 4) carrying the CPU alert's current state."""
    alert = {
        "status": "firing" if firing else "resolved",
        "labels": LABELS,
        "annotations": ANNOTATIONS,
        "startsAt": _rfc3339(started_at),
        "endsAt": "0001-01-01T00:00:00Z" if firing else _rfc3339(now),
        "generatorURL": "http://prometheus.example/graph?g0.expr=cpu_usage%3E0.9",
    }
    return {
        "version": "4",
        "status": alert["status"],
        "receiver": "obspipe",
        "groupLabels": {"alertname": LABELS["alertname"]},
        "commonLabels": LABELS,
        "commonAnnotations": ANNOTATIONS,
        "externalURL": "http://alertmanager.example",
        "alerts": [alert],
    }


class NoisyCpuAlert:
    """Publishes the CPU alert's state changes (and re-sends while firing)."""

    RESEND_S = 5.0

    def __init__(self, producer: Producer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._firing = False
        self._started_at = 0.0
        self._last_sent = 0.0
        self.transitions = 0

    def update(self, firing: bool, now: float) -> None:
        """Publish if the state changed, or if it is firing and due for a re-send."""
        changed = firing != self._firing
        if changed and firing:
            self._started_at = now
        if changed:
            self.transitions += 1
        if changed or (firing and now - self._last_sent >= self.RESEND_S):
            payload = webhook_payload(firing, self._started_at, now)
            self._producer.produce(self._topic, orjson.dumps(payload), key=LABELS["alertname"].encode())
            self._producer.poll(0)
            self._last_sent = now
        self._firing = firing
