"""Burn rates, multiwindow alert clauses, error budget and policy tier, in exact arithmetic.

Follows the Google SRE workbook, "Alerting on SLOs", table 5-8 (multiwindow, multi-burn-rate
alerts): burn rate = error ratio / (1 - objective); page when the 1 h and 5 m burn rates both
exceed 14.4, or the 6 h and 30 m both exceed 6; ticket when the 3 d and 6 h both exceed 1, or
the 24 h and 2 h both exceed 3. "Exceed" is strict: a burn rate of exactly 14.4 does not page.

Comparisons are cross-multiplied integers (no floats, no Fraction objects on the hot path):
with objective o = n/d, bad/total / (1 - o) > p/q  <=>  bad * d * q > p * total * (d - n).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

Severity = Literal["page", "ticket"]
PolicyTier = Literal["normal", "caution", "freeze", "exhausted"]

# (label, minutes); the labels are the keys of `burn_rates` in slo.status records.
WINDOWS: tuple[tuple[str, int], ...] = (
    ("5m", 5),
    ("30m", 30),
    ("1h", 60),
    ("2h", 120),
    ("6h", 360),
    ("24h", 1440),
    ("3d", 4320),
)
WINDOW_INDEX = {label: i for i, (label, _) in enumerate(WINDOWS)}


@dataclass(frozen=True, slots=True)
class Clause:
    """One alert clause: both windows' burn rates must exceed the threshold."""

    name: str
    severity: Severity
    long_window: str
    short_window: str
    threshold: Fraction


CLAUSES: tuple[Clause, ...] = (
    Clause("page_1h_5m", "page", "1h", "5m", Fraction(144, 10)),
    Clause("page_6h_30m", "page", "6h", "30m", Fraction(6)),
    Clause("ticket_3d_6h", "ticket", "3d", "6h", Fraction(1)),
    Clause("ticket_24h_2h", "ticket", "24h", "2h", Fraction(3)),
)


class BurnMath:
    """Exact burn-rate arithmetic for one objective."""

    def __init__(self, objective: Fraction) -> None:
        if not 0 < objective < 1:
            raise ValueError(f"objective must be strictly between 0 and 1, got {objective}")
        self.num = objective.numerator
        self.den = objective.denominator
        self.allowed = self.den - self.num  # (1 - o) * den

    def burn_rate(self, good: int, total: int) -> Fraction | None:
        """The exact burn rate; None without traffic."""
        if total <= 0:
            return None
        return Fraction((total - good) * self.den, total * self.allowed)

    def burn_rate_float(self, good: int, total: int) -> float | None:
        """The burn rate for output records (one division, no Fraction)."""
        if total <= 0:
            return None
        return (total - good) * self.den / (total * self.allowed)

    def exceeds(self, good: int, total: int, threshold: Fraction) -> bool:
        """True when there is traffic and the burn rate is strictly above `threshold`."""
        if total <= 0:
            return False
        return (total - good) * self.den * threshold.denominator > threshold.numerator * total * self.allowed

    def budget_remaining(self, good: int, total: int) -> Fraction | None:
        """1 - bad / allowed bad over the period, a ratio of sums; None without traffic."""
        if total <= 0:
            return None
        allowed_scaled = self.allowed * total
        return Fraction(allowed_scaled - (total - good) * self.den, allowed_scaled)

    def budget_remaining_float(self, good: int, total: int) -> float | None:
        if total <= 0:
            return None
        allowed_scaled = self.allowed * total
        return (allowed_scaled - (total - good) * self.den) / allowed_scaled

    def policy_tier(self, good: int, total: int) -> PolicyTier:
        """> 50 % left: normal; 10-50 %: caution; < 10 %: freeze; <= 0: exhausted.

        Without traffic nothing has been spent, so the tier is normal.
        """
        if total <= 0:
            return "normal"
        a = self.allowed * total  # remaining = (a - b) / a
        b = (total - good) * self.den
        if b >= a:
            return "exhausted"
        if 10 * (a - b) < a:
            return "freeze"
        if 2 * (a - b) <= a:
            return "caution"
        return "normal"
