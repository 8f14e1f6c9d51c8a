"""Actionability: symptoms may page, causes become tickets; overrides and runbook flags."""

from __future__ import annotations

import pytest

from pipeline.domain.alerting.config import build_alert_config
from pipeline.domain.alerting.model import Alert
from pipeline.errors import ConfigError

CLASSIFIER = build_alert_config().classifier


@pytest.mark.parametrize(
    ("labels", "expr", "cls", "category", "page"),
    [
        ({"alertname": "SLOBurnRate", "slo": "checkout"}, "", "symptom", "slo_burn", True),
        ({"alertname": "Whatever", "slo": "api-latency"}, "", "symptom", "slo_burn", True),
        ({"alertname": "HighErrorRate"}, "", "symptom", "error_rate", True),
        ({"alertname": "APIHighLatency"}, "", "symptom", "latency", True),
        ({"alertname": "BlackboxProbeFailed"}, "", "symptom", "availability", True),
        ({"alertname": "CheckoutSuccessZero"}, "", "symptom", "business_success_zero", True),
        ({"alertname": "Orders"}, "sum(rate(orders_total[5m])) == 0", "symptom", "business_success_zero",
         True),
        ({"alertname": "PipelineDataStale"}, "", "symptom", "freshness", True),
        ({"alertname": "Frontend5xx"}, "", "symptom", "error_rate", True),
        ({"alertname": "P99"}, "histogram_quantile(0.99, x) > 1", "symptom", "latency", True),
        ({"alertname": "HighCPUUsage"}, "", "cause", "resource_utilisation", False),
        ({"alertname": "ContainerMemoryNearLimit"}, "", "cause", "resource_utilisation", False),
        ({"alertname": "DiskWillFillIn4Hours"}, "", "cause", "predicted_exhaustion", False),
        ({"alertname": "Fill"}, "predict_linear(node_filesystem_free[6h], 4*3600) < 0", "cause",
         "predicted_exhaustion", False),
        ({"alertname": "InstanceDown"}, "", "cause", "component_down", False),
        ({"alertname": "Target"}, "up == 0", "cause", "component_down", False),
        ({"alertname": "KubePodCrashLooping"}, "", "cause", "component_down", False),
        ({"alertname": "NodeDiskIOErrors"}, "", "cause", "resource_utilisation", False),
        ({"alertname": "Watchdog"}, "", "cause", "unclassified", False),
    ],
)
def test_default_rules(labels: dict[str, str], expr: str, cls: str, category: str, page: bool) -> None:
    """The shipped rules sort well-known alerts into symptom and cause categories."""
    c = CLASSIFIER.classify(Alert(labels=labels, expr=expr, annotations={"runbook_url": "x"}))
    assert (c.cls, c.category, c.page) == (cls, category, page)
    assert c.rule  # every verdict names its rule


def test_actionable_label_overrides_everything() -> None:
    """`actionable="false"` silences a symptom's page; `actionable="true"` pages a cause."""
    c = CLASSIFIER.classify(Alert(labels={"alertname": "HighErrorRate", "actionable": "false"}))
    assert not c.page and c.rule == "override:actionable"
    c = CLASSIFIER.classify(Alert(labels={"alertname": "HighCPUUsage"}, annotations={"actionable": "true"}))
    assert c.page and c.rule == "override:actionable" and not c.actionable  # a paging cause is non-actionable


def test_severity_overrides_through_the_configured_map() -> None:
    """severity=page pages a cause; severity=warning turns a symptom into a ticket; critical is left alone."""
    assert CLASSIFIER.classify(Alert(labels={"alertname": "HighCPUUsage", "severity": "page"})).page
    c = CLASSIFIER.classify(Alert(labels={"alertname": "HighErrorRate", "severity": "warning"}))
    assert not c.page and c.rule == "override:severity"
    assert not CLASSIFIER.classify(Alert(labels={"alertname": "HighCPUUsage", "severity": "critical"})).page


def test_missing_runbook_is_flagged() -> None:
    """An alert without a runbook annotation is flagged and the reason says so."""
    c = CLASSIFIER.classify(Alert(labels={"alertname": "HighErrorRate"}))
    assert c.runbook_missing and "no runbook" in c.reason
    with_runbook = Alert(labels={"alertname": "X"}, annotations={"runbook": "r"})
    assert not CLASSIFIER.classify(with_runbook).runbook_missing


def test_user_rules_come_before_defaults() -> None:
    """A user rule can make CPU alerts of a batch service page."""
    cfg = build_alert_config({"classification": {"rules": [
        {"name": "batch-cpu", "class": "symptom", "category": "batch", "page": True,
         "matchers": ['service="batch"', 'alertname=~".*CPU.*"']}]}})
    c = cfg.classifier.classify(Alert(labels={"alertname": "HighCPUUsage", "service": "batch"}))
    assert (c.page, c.rule) == (True, "batch-cpu")
    assert not cfg.classifier.classify(Alert(labels={"alertname": "HighCPUUsage"})).page


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ({"classification": {"rules": [{"class": "maybe", "page": True, "name_regex": "x"}]}}, "class"),
        ({"classification": {"rules": [{"class": "cause", "page": False}]}}, "needs matchers"),
        ({"route": {"group_wait": "soon"}}, "route.group_wait"),
        ({"routes": []}, "unknown section"),
        ({"inhibit_rules": [{"source_matchers": ["a=~("]}]}, "invalid regex"),
    ],
)
def test_bad_config_is_one_line_naming_the_entry(section: dict[str, object], needle: str) -> None:
    """Configuration mistakes raise one-line ConfigErrors that point at the entry."""
    with pytest.raises(ConfigError) as info:
        build_alert_config(section)
    assert needle in str(info.value) and "\n" not in str(info.value)
