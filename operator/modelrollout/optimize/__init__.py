"""The optimization Job: fetch a model, build candidates, measure them, pick one, report."""
