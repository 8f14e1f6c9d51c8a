"""Kafka adapters: the embedded broker, topic admin, librdkafka configs and producers."""
