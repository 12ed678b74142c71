"""Metric providers for canary analysis: one interface, PromQL templates, Prometheus."""
