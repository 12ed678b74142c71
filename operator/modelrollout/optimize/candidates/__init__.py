"""Candidate backends: one module per runtime, a registry that picks them."""
