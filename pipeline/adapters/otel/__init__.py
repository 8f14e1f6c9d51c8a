"""OpenTelemetry adapters: the span exporter to Kafka; context over Kafka, threads and retries."""
