"""Alert routing, actionability, on-call schedules and paging statistics (pure, event-time driven).

Follows Prometheus Alertmanager's model (fingerprints, routing tree, grouping timers, inhibition,
silences); every function takes the current event time as an argument and never reads a clock.
"""
