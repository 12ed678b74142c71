"""The operator's configuration: a YAML file (a mounted ConfigMap), every key optional."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelrollout import names
from modelrollout.pools import profiles
from modelrollout.pools.profiles import Price  # a method below is named profiles

ENV_CONFIG: Final = names.ENV_CONFIG


class OperatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    image: str = Field(
        default="modelrollout:0.1.0",
        description="Image of the optimization Job and of the inference server (they are one image).",
    )
    image_pull_policy: str = Field(default="IfNotPresent", alias="imagePullPolicy")
    artifact_store: str = Field(
        default="pvc://modelrollout-artifacts/models",
        alias="artifactStore",
        description="Where optimized artifacts go: file://dir, pvc://claim/path or s3://bucket/prefix.",
    )
    pvc_mount_root: str = Field(default="/mnt/pvc", alias="pvcMountRoot")
    env_from_secret: str | None = Field(
        default=None, alias="envFromSecret", description="Secret with credentials (e.g. AWS_*) for Job and server pods."
    )
    service_account_name: str | None = Field(
        default=None,
        alias="serviceAccountName",
        description="ServiceAccount of Job and server pods, for cloud workload identity (IRSA and the like); "
        "its API token is never mounted.",
    )
    file_roots: list[str] = Field(
        default_factory=list,
        alias="fileRoots",
        description="Directories file:// model URIs may name, in Job and server pods; empty: any absolute path "
        "without '..'.",
    )
    resync_seconds: float = Field(
        default=300.0,
        gt=0,
        alias="resyncSeconds",
        description="Safety-net pass over every rollout this often; changes and due work wake one at once.",
    )
    workers: int = Field(default=8, ge=1, le=256, description="Reconcile passes run at the same time, at most.")
    api_qps: float = Field(default=50.0, gt=0, alias="apiQPS", description="The operator's own API requests/second.")
    api_burst: int = Field(default=100, ge=1, alias="apiBurst", description="Requests allowed at once above apiQPS.")
    analysis_selector: str = Field(
        default='namespace="{namespace}"',
        alias="analysisSelector",
        description="Extra label matchers added to every analysis query ({namespace}, {name} are filled in).",
    )
    server_port: int = Field(default=8080, alias="serverPort")
    pools: dict[str, Any] = Field(default_factory=dict, description="Node pool profiles laid over the defaults.")
    prices: dict[str, Price] = Field(
        default_factory=dict,
        description="Prices per pool profile (nodeHour, acceleratorHour, nodeCPUs), laid over the defaults.",
    )
    job_ttl_seconds: int = Field(default=86400, alias="jobTTLSeconds")

    @model_validator(mode="after")
    def _prices_name_pools(self) -> OperatorSettings:
        try:
            self.profiles()
        except profiles.UnknownPool as e:
            raise ValueError(str(e)) from None
        return self

    def profiles(self) -> dict[str, profiles.Profile]:
        return profiles.merged(self.pools, self.prices)


def load(path: str | Path | None = None) -> OperatorSettings:
    """Settings from a file (argument, else $MODELROLLOUT_CONFIG), defaults when there is none."""
    chosen = path or os.environ.get(ENV_CONFIG)
    if not chosen:
        return OperatorSettings()
    raw = yaml.safe_load(Path(chosen).read_text()) or {}
    return OperatorSettings.model_validate(raw)
