"""modelrollout: optimize ML models, place them on the right node pool, canary them safely."""

__version__ = "0.1.0"
