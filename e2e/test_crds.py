"""The ModelDeployment CRD served by a real API server: kubectl, explain, CEL validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelrollout import names
from modelrollout.testbed import kubectl as kubectl_cli

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
