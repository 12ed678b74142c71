"""The ModelDeployment CRD served by a real API server: kubectl, explain, CEL validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from e2e.testbed import kubectl as kubectl_cli
from modelrollout import names
from tests import specs

pytestmark = pytest.mark.e2e

CRDS = Path(__file__).resolve().parents[1] / "crds"
CRD_FILE = CRDS / "modeldeployment.yaml"


def model_deployment(name: str, weights: list[int]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "metadata": {"name": name},
            "spec": {
                "model": {"name": "tiny", "version": "1", "uri": "file:///models/tiny.onnx"},
                "rollout": {"steps": [{"weight": w} for w in weights]},
            },
        }
    )


@pytest.fixture(scope="module")
def crds_installed(kubectl: kubectl_cli.Kubectl) -> None:
    if not CRD_FILE.is_file():
        pytest.skip(f"{CRD_FILE.relative_to(CRDS.parent)} not generated yet")
    kubectl("apply", "--server-side", "-f", str(CRDS))
    kubectl("wait", "--for=condition=Established", f"crd/{names.CRD_NAME}", "--timeout=60s")


@pytest.mark.usefixtures("crds_installed")
def test_get_and_explain(kubectl: kubectl_cli.Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=model_deployment("good", [10, 50, 100]))
    listed = kubectl("get", "mdep", "-n", namespace)
    assert "good" in listed
    explained = kubectl("explain", f"{names.SINGULAR}.spec")
    assert "model" in explained and "rollout" in explained


@pytest.mark.usefixtures("crds_installed")
def test_invalid_object_is_refused_with_the_cel_message(kubectl: kubectl_cli.Kubectl, namespace: str) -> None:
    refused = kubectl.run(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=model_deployment("bad", [50, 10, 100]),
        check=False,
    )
    assert refused.returncode != 0
    assert "weights must be strictly ascending" in refused.stderr, refused.stderr
    assert kubectl.run("get", "mdep", "-n", namespace, "bad", check=False).returncode != 0


@pytest.mark.usefixtures("crds_installed")
@pytest.mark.parametrize("case", specs.invalid_cases(), ids=lambda c: c.name)
def test_every_invalid_spec_is_refused_by_the_api_server(
    kubectl: kubectl_cli.Kubectl, namespace: str, case: specs.InvalidCase
) -> None:
    """The same table the pydantic models are tested with: the CRD catches each one first.

    The object's name is neutral: kubectl echoes it, and a name like "zero-replicas" would
    match an expected "replicas" by itself.
    """
    body = {"apiVersion": names.API_VERSION, "kind": names.KIND, "metadata": {"name": "case"}, "spec": case.spec}
    refused = kubectl.run("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(body), check=False)
    assert refused.returncode != 0, f"{case.name} was accepted"
    assert case.server in refused.stderr, refused.stderr


@pytest.mark.usefixtures("crds_installed")
def test_defaults_are_filled_in_by_the_api_server(kubectl: kubectl_cli.Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=model_deployment("defaults", [10, 100]))
    spec = kubectl.json("get", "mdep", "defaults", "-n", namespace)["spec"]
    assert spec["optimization"]["evaluation"] == {"metric": "cosine", "maxDrop": 0.01, "samples": 256}
    assert spec["serving"]["replicas"] == 2 and spec["serving"]["accelerator"] == "cpu"
    assert spec["rollout"]["traffic"]["router"] == "replicas"
