"""The only package that talks to the Kubernetes API (besides Kopf itself in handlers/)."""
