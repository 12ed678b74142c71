"""The feedback signing key: one Secret per ModelDeployment, mounted into its server pods.

Every stable and canary pod of a ModelDeployment signs and verifies feedback tokens
with the same key, so feedback posted through the Service reaches any of them and is
still counted for the pod that predicted (docs/inference-server.md). The key is random,
so the operator creates the Secret once and never applies it again: a server-side
apply would need the value, and a new value each pass would break every token in flight.
"""

from __future__ import annotations

from typing import Any

from modelrollout import names
from modelrollout.builders import common

VOLUME = "feedback-key"


def secret_name(owner: common.Owner) -> str:
    return common.child_name(owner, "feedback")


def secret(owner: common.Owner, key: str) -> dict[str, Any]:
    """The Secret holding `key` (the caller draws it at random) as the current key."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": common.metadata(owner, secret_name(owner), common.labels(owner, names.COMPONENT_SERVER)),
        "type": "Opaque",
        "stringData": {names.FEEDBACK_KEY: key},
    }


def server_env() -> dict[str, str]:
    """Where the server reads the keys; `previous` exists only while a rotation needs it."""
    return {
        names.ENV_FEEDBACK_KEY_FILE: f"{names.FEEDBACK_KEY_DIR}/{names.FEEDBACK_KEY}",
        names.ENV_FEEDBACK_PREVIOUS_KEY_FILE: f"{names.FEEDBACK_KEY_DIR}/{names.FEEDBACK_PREVIOUS_KEY}",
    }


def volume(owner: common.Owner) -> dict[str, Any]:
    # Readable by the server's group (the pod's fsGroup), by no one else. Optional: a pod
    # whose Secret is missing still serves (its tokens verify only on itself, and it says
    # so), and picks the key up once the kubelet projects it.
    return {
        "name": VOLUME,
        "secret": {"secretName": secret_name(owner), "defaultMode": 0o440, "optional": True},
    }


def mount() -> dict[str, Any]:
    return {"name": VOLUME, "mountPath": names.FEEDBACK_KEY_DIR, "readOnly": True}
