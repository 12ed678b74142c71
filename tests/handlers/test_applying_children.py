"""Whose spec.replicas is when the shell applies a server Deployment (`reconciling._apply_child`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelrollout import names
from modelrollout.api.v1alpha1 import ModelDeploymentSpec, VersionRef
from modelrollout.builders import common, deployments
from modelrollout.handlers import reconciling
from modelrollout.kube import applying, observing
from modelrollout.pools import profiles
from modelrollout.settings import OperatorSettings
from tests import specs

OWNER = common.Owner(name="m", namespace="ns", uid="u-1", model="minilm")
REF = VersionRef(version="7", revision="abc123", runtime="onnxruntime", uri="file:///m/7/model.onnx")
SPEC = ModelDeploymentSpec.model_validate(specs.base_spec())


@dataclass
class Apps:
    """Records what would be sent; answers like the API server with the next generation."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def patch_namespaced_deployment(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"metadata": {"generation": len(self.calls)}}


@dataclass
class Clients:
    apps: Apps = field(default_factory=Apps)


def _shell() -> tuple[reconciling.Shell, Apps]:
    clients = Clients()
    return reconciling.Shell(clients=clients, settings=OperatorSettings()), clients.apps  # type: ignore[arg-type]


def _built(replicas: int | None) -> dict[str, Any]:
    cpu = profiles.defaults()["cpu"]
    return deployments.server_deployment(OWNER, SPEC, names.ROLE_STABLE, REF, replicas, cpu, OperatorSettings())


def _view(replicas: int, *, owned: bool, marker: str = "1") -> observing.DeploymentView:
    return observing.DeploymentView("m-stable", "7", "abc123", replicas, replicas, True, (), marker, owned)


def test_replicas_we_still_hold_are_handed_over_before_the_apply_leaves_them_out() -> None:
    shell, apps = _shell()
    reconciling._apply_child(shell, OWNER, _built(None), {"m-stable": _view(3, owned=True)})
    handover, applied = apps.calls
    assert handover["field_manager"] == applying.HANDOVER and handover["body"]["spec"] == {"replicas": 3}
    assert not handover.get("force"), "a forced hand-over could write an older count over the HPA's"
    assert applied["field_manager"] == names.MANAGER and "replicas" not in applied["body"]["spec"]


def test_no_hand_over_once_the_hpa_holds_them_or_while_they_are_ours() -> None:
    shell, apps = _shell()
    reconciling._apply_child(shell, OWNER, _built(None), {"m-stable": _view(5, owned=False)})
    reconciling._apply_child(shell, OWNER, _built(2), {"m-stable": _view(2, owned=True, marker="9")})
    assert [c["field_manager"] for c in apps.calls] == [names.MANAGER, names.MANAGER]


def test_a_kubectl_scale_is_applied_over_while_the_count_is_ours() -> None:
    shell, apps = _shell()
    built = _built(2)
    reconciling._apply_child(shell, OWNER, built, {})
    reconciling._apply_child(shell, OWNER, built, {"m-stable": _view(2, owned=True, marker="1")})
    assert len(apps.calls) == 1, "unchanged and untouched: no request"
    # `kubectl scale` moves the generation: the declared count is applied again, by force.
    reconciling._apply_child(shell, OWNER, built, {"m-stable": _view(3, owned=False, marker="2")})
    assert len(apps.calls) == 2 and apps.calls[1]["force"] and apps.calls[1]["body"]["spec"]["replicas"] == 2
