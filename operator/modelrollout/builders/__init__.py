"""Pure builders: Kubernetes objects as dicts, from the spec and the decisions. No I/O."""
