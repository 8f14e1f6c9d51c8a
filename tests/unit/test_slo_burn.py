"""SLO burn: the SRE workbook's multiwindow, multi-burn-rate alerts, worked by hand.

Every scenario is a 99.9 % SLO with 1000 requests a minute, so 1 bad request per minute is a
burn rate of 1 and the error budget of a window of W minutes is W bad requests.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from pipeline.domain.slo.burn import BurnMath
from pipeline.domain.slo.definitions import SloDefinition
from pipeline.domain.slo.evaluate import Evaluation, SloEvaluator

DAY = 1440
START = 28_333_333  # an arbitrary minute (unix time // 60)
RATE = 1000


def slo(objective: str = "99.9", service: str | None = "checkout") -> SloDefinition:
    return SloDefinition(
        name="checkout-availability", objective=Fraction(objective) / 100, objective_text=objective,
        period_minutes=30 * DAY, period_text="30d", service=service,
    )


def run(ev: SloEvaluator, minutes: range, bad: int, total: int = RATE) -> list[Evaluation]:
    out = []
    for m in minutes:
        ev.add(m, total - bad, total)
        out.append(ev.evaluate(m))
    return out


def firing_minutes(evals: list[Evaluation], clause: str) -> list[int]:
    ends = [e.status["evaluated_at_unix_nano"] for e in evals if clause in e.status["firing"]]
    return [end // 60_000_000_000 - 1 for end in ends]


def test_ten_minute_burst_after_three_clean_days_pages_at_ninth_minute_and_resolves() -> None:
    """10 minutes at 10 % errors after 3 clean days: 1 h burn passes 14.4 at the 9th minute (15 > 14.4),
    and the page resolves when the 5 m window no longer holds a burst minute (burst end + 5)."""
    ev = SloEvaluator(slo())
    clean = run(ev, range(START, START + 3 * DAY), bad=0)
    assert all(e.status["firing"] == [] and e.alerts == [] for e in clean)
    burst_start = START + 3 * DAY
    evals = run(ev, range(burst_start, burst_start + 10), bad=100)
    evals += run(ev, range(burst_start + 10, burst_start + 120), bad=0)
    # After k burst minutes the 1 h burn rate is 100k / 60 = 5k/3: 13.33 at k=8, 15 at k=9.
    assert firing_minutes(evals, "page_1h_5m") == list(range(burst_start + 8, burst_start + 14))
    assert evals[7].status["burn_rates"]["1h"] == pytest.approx(40 / 3)
    assert evals[8].status["burn_rates"]["1h"] == pytest.approx(15.0)
    assert evals[8].status["burn_rates"]["5m"] == pytest.approx(100.0)
    # 6 h burn stays <= 1000/360 = 2.8, 3 d and 24 h below 1: nothing else fires.
    assert all(e.status["firing"] in ([], ["page_1h_5m"]) for e in evals)
    fired = [a for e in evals for a in e.alerts]
    assert [a["status"] for a in fired] == ["firing", "resolved"]
    page = fired[0]
    assert page["labels"] == {"alertname": "SLOBurnRate", "slo": "checkout-availability", "severity": "page",
                              "window": "page_1h_5m", "service": "checkout"}
    assert page["endsAt"] == "0001-01-01T00:00:00Z"
    assert fired[1]["startsAt"] == page["startsAt"] and fired[1]["fingerprint"] == page["fingerprint"]
    # Budget at the last burst-window minute (burst_start + 14): 3 d + 15 min of traffic, 1000 bad.
    status = evals[14].status
    assert status["period_total"] == (3 * DAY + 15) * RATE
    assert status["budget_remaining"] == pytest.approx(1 - 1000 / (3 * DAY + 15))
    assert status["policy_tier"] == "normal"


def test_total_outage_pages_first_then_tickets_and_walks_the_policy_tiers() -> None:
    """A total outage after 3 clean days: by hand, page 1h/5m at minute 1, page 6h/30m at 3, both tickets
    at 5; budget normal, normal, caution, freeze, exhausted."""
    ev = SloEvaluator(slo())
    run(ev, range(START, START + 3 * DAY), bad=0)
    outage = START + 3 * DAY
    evals = run(ev, range(outage, outage + 6), bad=RATE)
    # k outage minutes: 1 h burn 1000k/60 > 14.4 from k=1; 6 h burn 1000k/360 > 6 from k=3;
    # 24 h burn 1000k/1440 > 3 from k=5; 3 d burn 1000k/4320... (over 4320 minutes) > 1 from k=5.
    assert [e.status["firing"] for e in evals[:5]] == [
        ["page_1h_5m"],
        ["page_1h_5m"],
        ["page_1h_5m", "page_6h_30m"],
        ["page_1h_5m", "page_6h_30m"],
        ["page_1h_5m", "page_6h_30m", "ticket_3d_6h", "ticket_24h_2h"],
    ]
    # remaining = 1 - 1000k / (4320 + k): 0.77, 0.54, 0.31, 0.07, -0.16
    tiers = [e.status["policy_tier"] for e in evals[:5]]
    assert tiers == ["normal", "normal", "caution", "freeze", "exhausted"]
    assert evals[0].status["burn_rates"]["5m"] == pytest.approx(200.0)
    tickets = [a["labels"]["severity"] for a in evals[4].alerts]
    assert tickets == ["ticket", "ticket"]


def test_slow_burn_tickets_but_never_pages() -> None:
    """A steady burn rate of 2 (0.2 % errors) after 3 clean days: the 3 d burn passes 1 after 2161 minutes
    (2k / 4320 > 1), the 6 h one long before; 14.4, 6 and 3 are never exceeded."""
    ev = SloEvaluator(slo())
    run(ev, range(START, START + 3 * DAY), bad=0)
    burn_start = START + 3 * DAY
    evals = run(ev, range(burn_start, burn_start + 2 * DAY), bad=2)
    assert firing_minutes(evals, "ticket_3d_6h")[0] == burn_start + 2160
    assert not any(c.startswith("page") or c == "ticket_24h_2h" for e in evals for c in e.status["firing"])
    assert evals[2159].status["burn_rates"]["3d"] == pytest.approx(1.0)
    assert evals[2159].status["firing"] == []  # exactly 1 does not exceed 1


def test_burn_rate_exactly_at_threshold_does_not_page() -> None:
    """Both 1 h and 5 m burn rates exactly 14.4 (144 bad of 10000) do not fire page_1h_5m; 145 bad does.

    (The same traffic exceeds 6, 3 and 1, so the other clauses fire in both cases.)"""
    ev = SloEvaluator(slo())
    evals = run(ev, range(START, START + 5), bad=144, total=10_000)
    assert all("page_1h_5m" not in e.status["firing"] for e in evals)
    assert evals[-1].status["firing"] == ["page_6h_30m", "ticket_3d_6h", "ticket_24h_2h"]
    assert evals[-1].status["burn_rates"]["1h"] == pytest.approx(14.4)
    ev = SloEvaluator(slo())
    evals = run(ev, range(START, START + 5), bad=145, total=10_000)
    assert "page_1h_5m" in evals[-1].status["firing"]


def test_no_traffic_gives_no_burn_rate_and_no_alert() -> None:
    """A window without traffic has burn rate None; an idle SLO fires nothing and spends nothing."""
    ev = SloEvaluator(slo())
    status = ev.evaluate(START).status
    assert set(status["burn_rates"].values()) == {None}
    assert status["firing"] == [] and status["budget_remaining"] is None and status["policy_tier"] == "normal"


def test_window_covers_exactly_its_minutes() -> None:
    """A 5-minute window at minute t covers t-4..t: a bad minute stops counting at t = bad + 5."""
    ev = SloEvaluator(slo())
    ev.add(START, 0, 10)
    for m in range(START + 1, START + 6):
        ev.add(m, 10, 10)
    assert ev.evaluate(START + 4).status["burn_rates"]["5m"] == pytest.approx(200.0)  # 10 bad / 50
    assert ev.evaluate(START + 5).status["burn_rates"]["5m"] == 0.0


def test_late_bucket_update_adjusts_windows_already_passed() -> None:
    """Data for a minute that was already evaluated is added to every window covering it."""
    ev = SloEvaluator(slo())
    for m in range(START, START + 10):
        ev.add(m, 1000, 1000)
        ev.evaluate(m)
    ev.add(START + 8, -5, 0)  # 5 requests of minute 8 turn out bad
    status = ev.evaluate(START + 10).status
    assert status["burn_rates"]["5m"] == pytest.approx(5 / 4000 / 0.001)  # minutes 6..10, 10 empty


@pytest.mark.parametrize(
    ("bad", "tier"),
    [(0, "normal"), (49, "normal"), (50, "caution"), (90, "caution"), (91, "freeze"), (99, "freeze"),
     (100, "exhausted"), (150, "exhausted")],
)
def test_policy_tier_boundaries(bad: int, tier: str) -> None:
    """With 100 bad allowed (99.9 % of 100000): > 50 % left normal, 10-50 % caution, < 10 % freeze, <= 0
    exhausted."""
    assert BurnMath(Fraction(999, 1000)).policy_tier(100_000 - bad, 100_000) == tier


def test_exact_arithmetic_where_floats_disagree() -> None:
    """A 99.99 % objective with 1 bad in 10000 is burn rate exactly 1 (floats give 0.99999999999989)."""
    math = BurnMath(Fraction(9999, 10000))
    assert math.burn_rate(9999, 10_000) == 1
    assert not math.exceeds(9999, 10_000, Fraction(1))
    assert (1 / 10_000) / (1 - 0.9999) != 1.0  # why floats are not used


def test_24h_2h_ticket_fires_alone_when_old_traffic_was_heavy() -> None:
    """2 clean days at 10,000/min, then 0.4 % errors (burn 4) at 1,000/min: the 24 h burn after k bad
    minutes is 4000k / (14.4M - 9000k), above 3 from k = 1394 (31000k > 43.2M), while the 3 d burn stays
    below 0.2 (the heavy clean days dilute it): ticket_24h_2h fires, ticket_3d_6h and the pages never."""
    ev = SloEvaluator(slo())
    run(ev, range(START, START + 2 * DAY), bad=0, total=10_000)
    bad_start = START + 2 * DAY
    evals = run(ev, range(bad_start, bad_start + DAY), bad=4, total=1000)
    assert firing_minutes(evals, "ticket_24h_2h")[0] == bad_start + 1393
    assert {c for e in evals for c in e.status["firing"]} == {"ticket_24h_2h"}
    # 3 d: 5760 bad of 30.24M events, / 0.001
    assert evals[-1].status["burn_rates"]["3d"] == pytest.approx(4 * 1440 / (2 * DAY * 10 + DAY))
