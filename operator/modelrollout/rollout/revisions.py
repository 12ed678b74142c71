"""Revisions: which part of the spec makes a new version worth a new rollout."""

from __future__ import annotations

import hashlib
import json

from modelrollout.api import v1alpha1


def revision_of(spec: v1alpha1.ModelDeploymentSpec) -> str:
    """A short hash of what the served artifact depends on: the model and its optimization.

    Serving settings (replicas, resources) are left out on purpose: changing them is
    applied in place to both versions and never needs a canary.
    """
    relevant = {
        "model": spec.model.model_dump(mode="json", by_alias=True),
        "optimization": spec.optimization.model_dump(mode="json", by_alias=True),
        "accelerator": spec.serving.accelerator.value,
        "nodePool": spec.serving.node_pool,
    }
    digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()
    return digest[:10]
