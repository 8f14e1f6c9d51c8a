"""The router's output: one decision per notification or suppressed alert (`alerts.pages`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline.domain.alerting.classify import Classification
from pipeline.domain.alerting.model import Alert, format_rfc3339

DecisionKind = Literal["page", "ticket", "suppressed"]
SCHEMA = "alert_decision/v1"


@dataclass(slots=True)
class Decision:
    """What the router decided, why, and by which rule.

    `id` is deterministic (group key hash + notification sequence, or fingerprint + episode
    start + reason for suppressions), so a decision replayed after a crash has the same id.
    """

    id: str
    decision: DecisionKind
    reason: str
    rule: str
    group_key: str
    receiver: str
    status: Literal["firing", "resolved"]
    at: float
    alerts: list[tuple[Alert, Classification]] = field(default_factory=list)
    seq: int = 0
    incident_id: str = ""
    actionable: bool = False
    oncall: str | None = None
    shift_id: str | None = None

    @property
    def is_page(self) -> bool:
        """A firing page notification (resolutions and repeats of resolved groups are not pages)."""
        return self.decision == "page" and self.status == "firing"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "id": self.id,
            "decision": self.decision,
            "reason": self.reason,
            "rule": self.rule,
            "group_key": self.group_key,
            "receiver": self.receiver,
            "status": self.status,
            "seq": self.seq,
            "incident_id": self.incident_id,
            "actionable": self.actionable,
            "oncall": self.oncall,
            "shift_id": self.shift_id,
            "at": format_rfc3339(self.at),
            "alerts": [{**a.to_json(), "classification": c.to_json(a.fingerprint)} for a, c in self.alerts],
        }
