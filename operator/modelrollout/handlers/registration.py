"""Kopf registrations only: each handler is a short call into `reconciling`."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from modelrollout import names
from modelrollout.handlers import reconciling, telemetry
from modelrollout.kube.clients import Clients
from modelrollout.settings import OperatorSettings, load

logger = logging.getLogger(__name__)

# Set by `configure` before Kopf starts; module state because Kopf calls plain functions.
_shell: reconciling.Shell | None = None


def configure(settings: OperatorSettings | None = None, kubeconfig: str | None = None) -> reconciling.Shell:
    global _shell  # noqa: PLW0603 - the one place the shell is created
    _shell = reconciling.Shell(clients=Clients.create(kubeconfig), settings=settings or load())
    return _shell


def _tick() -> float:
    return _shell.settings.tick_seconds if _shell is not None else load().tick_seconds


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    if _shell is None:
        configure()
    # Our own Events say what happened; Kopf's log-to-Event mirroring would only add noise.
    settings.posting.level = logging.ERROR
    # Progress in annotations: status belongs to the rollout, and the CRD schema prunes the rest.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=names.GROUP, key="last-handled-configuration"
    )
    settings.watching.server_timeout = 60


@kopf.timer(names.GROUP, names.VERSION, names.PLURAL, interval=_tick(), sharp=False)
def reconcile(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    assert _shell is not None

    def write_status(changes: Any) -> None:
        patch.status.update(changes)

    def emit(type_: str, reason: str, message: str) -> None:
        kopf.event(body, type=type_, reason=reason, message=message[:1024])

    try:
        reconciling.reconcile(_shell, dict(body), write_status, emit)
    except ApiException as error:
        # One line, and the next tick tries again: e.g. a namespace being deleted refuses
        # new children, which is no reason for a traceback every few seconds.
        logger.warning(
            "reconcile of %s/%s: %s", body.metadata.namespace, body.metadata.name, reconciling.describe_api_error(error)
        )


@kopf.on.delete(names.GROUP, names.VERSION, names.PLURAL, optional=True)
def forget(namespace: str | None, name: str | None, **_: Any) -> None:
    if namespace and name:
        telemetry.forget(namespace, name)
