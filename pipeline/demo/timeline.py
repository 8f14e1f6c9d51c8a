"""The demo's scripted story as a pure function of elapsed time: what happens when.

Times scale with the run's duration so that `--duration 120` and the default both tell the
whole story: steady traffic, a flapping CPU alert from the start, then a payments outage that
burns checkout's error budget fast (and pages), then recovery.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timeline:
    """Phase boundaries in seconds since the start of traffic."""

    duration_s: float
    outage_start_s: float
    outage_end_s: float
    cpu_flap_period_s: float

    @classmethod
    def for_duration(cls, duration_s: float) -> Timeline:
        """The story scaled to `duration_s` (at least 30 s).

        The outage starts at 20 % of the run and lasts 40 % of it: long enough for one minute of
        event time to close with errors in it (the SLO evaluates per minute), short enough that
        steady traffic follows.
        """
        duration_s = max(30.0, duration_s)
        return cls(
            duration_s=duration_s,
            outage_start_s=0.2 * duration_s,
            outage_end_s=0.6 * duration_s,
            cpu_flap_period_s=max(4.0, duration_s / 12),
        )

    def outage(self, elapsed_s: float) -> bool:
        """Payments fails every request during the outage."""
        return self.outage_start_s <= elapsed_s < self.outage_end_s

    def cpu_alert_firing(self, elapsed_s: float) -> bool:
        """The noisy CPU alert fires for half of each flap period, then resolves: flapping."""
        phase = (elapsed_s % self.cpu_flap_period_s) / self.cpu_flap_period_s
        return phase < 0.5
