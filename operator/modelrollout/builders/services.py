"""Services: one for all pods of the instance (the replicas router), one per role."""

from __future__ import annotations

from typing import Any

from modelrollout import names
from modelrollout.builders import common
from modelrollout.settings import OperatorSettings


def service(owner: common.Owner, settings: OperatorSettings, role: str | None = None) -> dict[str, Any]:
    selector = {names.LABEL_INSTANCE: owner.name, names.LABEL_COMPONENT: names.COMPONENT_SERVER}
    if role is not None:
        selector[names.LABEL_ROLE] = role
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": common.metadata(
            owner, common.service_name(owner, role), common.labels(owner, names.COMPONENT_SERVER, role=role)
        ),
        "spec": {
            "selector": selector,
            "ports": [
                {
                    "name": names.SERVER_PORT_NAME,
                    "port": settings.server_port,
                    "targetPort": names.SERVER_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def all_services(owner: common.Owner, settings: OperatorSettings) -> list[dict[str, Any]]:
    return [service(owner, settings), *(service(owner, settings, role) for role in names.ROLES)]
