"""Day-2 controls as JSON patches on a ModelDeployment's annotations (pure).

JSON patch rather than a merge patch: `resume` removes the annotation only when it is
there, and the content type is named explicitly, because the kubernetes client's
default for custom objects changed between its versions.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Final

from modelrollout import names

ONE_SHOT: Final = {
    "promote": names.ANNOTATION_PROMOTE,
    "abort": names.ANNOTATION_ABORT,
    "retry": names.ANNOTATION_RETRY,
}
LEVEL: Final = ("pause", "resume")
COMMANDS: Final = (*ONE_SHOT, *LEVEL)
CONTENT_TYPE: Final = "application/json-patch+json"


def _pointer(key: str) -> str:
    """RFC 6901: `~` and `/` in a key are escaped."""
    return "/metadata/annotations/" + key.replace("~", "~0").replace("/", "~1")


def stamp(now: datetime.datetime) -> str:
    """A fresh value for a one-shot annotation: the operator acts once per distinct value."""
    return now.astimezone(datetime.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def set_annotation(annotations: Mapping[str, str] | None, key: str, value: str) -> list[dict[str, Any]]:
    if annotations is None:
        return [{"op": "add", "path": "/metadata/annotations", "value": {key: value}}]
    return [{"op": "add", "path": _pointer(key), "value": value}]


def remove_annotation(annotations: Mapping[str, str] | None, key: str) -> list[dict[str, Any]]:
    if not annotations or key not in annotations:
        return []
    return [{"op": "remove", "path": _pointer(key)}]


def patch_for(command: str, annotations: Mapping[str, str] | None, now: datetime.datetime) -> list[dict[str, Any]]:
    """The patch that asks the operator for `command`; empty when there is nothing to change."""
    if command in ONE_SHOT:
        return set_annotation(annotations, ONE_SHOT[command], stamp(now))
    if command == "pause":
        return set_annotation(annotations, names.ANNOTATION_PAUSE, "true")
    if command == "resume":
        # Removing `paused` undoes a person's pause; the stamp also lifts a pause the
        # analysis took for lack of evidence (the step starts its evidence afresh).
        stamped = {**(annotations or {}), names.ANNOTATION_RESUME: stamp(now)}
        return [
            *remove_annotation(annotations, names.ANNOTATION_PAUSE),
            *set_annotation(annotations, names.ANNOTATION_RESUME, stamped[names.ANNOTATION_RESUME]),
        ]
    raise ValueError(f"unknown control {command!r}: expected one of {', '.join(COMMANDS)}")
