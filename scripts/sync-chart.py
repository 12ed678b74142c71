"""Refreshes the Helm chart's copies of the kustomize sources (one source of truth for both).

`python scripts/sync-chart.py` writes them; `--check` only says which are stale (the
tests run that). The chart's templates read these copies (.Files.Get) and the CRDs go to
its crds/; the `config` part of values.schema.json is the operator's settings schema.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parents[1]
MANIFESTS: Final = REPO / "manifests"
CHART: Final = MANIFESTS / "helm" / "modelrollout"
# (kustomize source, chart copy), both relative to manifests/.
COPIES: Final = (
    ("crd/modeldeployment.yaml", "helm/modelrollout/crds/modeldeployment.yaml"),
    ("crd/kopf-peering-crd.yaml", "helm/modelrollout/crds/kopf-peering.yaml"),
    ("rbac/clusterrole.yaml", "helm/modelrollout/files/clusterrole.yaml"),
    ("monitoring/servicemonitor.yaml", "helm/modelrollout/files/servicemonitor.yaml"),
    ("monitoring/podmonitor-inference.yaml", "helm/modelrollout/files/podmonitor-inference.yaml"),
    ("monitoring/prometheusrule.yaml", "helm/modelrollout/files/prometheusrule.yaml"),
    ("monitoring/grafana-dashboard.json", "helm/modelrollout/files/grafana-dashboard.json"),
)
SCHEMA: Final = CHART / "values.schema.json"


def settings_schema() -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "operator"))
    from modelrollout import settings  # noqa: PLC0415 (the product is only needed here)

    schema: dict[str, Any] = settings.OperatorSettings.model_json_schema(by_alias=True, mode="validation")
    schema.pop("title", None)
    schema["description"] = "The operator's configuration file (/etc/modelrollout/config.yaml)."
    return schema


def expected() -> dict[Path, str]:
    files = {MANIFESTS / copy: (MANIFESTS / source).read_text() for source, copy in COPIES}
    schema = json.loads(SCHEMA.read_text())
    config = settings_schema()
    # The settings' own definitions ($ref "#/$defs/...") resolve from the document's root.
    definitions = config.pop("$defs", None)
    schema["properties"]["config"] = config
    if definitions:
        schema["$defs"] = definitions
    else:
        schema.pop("$defs", None)
    files[SCHEMA] = json.dumps(schema, indent=2) + "\n"
    return files


def stale() -> list[Path]:
    return [path for path, text in expected().items() if not path.exists() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="list stale copies, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for path in old:
            print(f"stale: {path.relative_to(REPO)}", file=sys.stderr)
        return 1 if old else 0
    for path, text in expected().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
