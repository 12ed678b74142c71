"""API clients, configured once: in-cluster when in a pod, else the kubeconfig."""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client, config


@dataclass(frozen=True)
class Clients:
    core: client.CoreV1Api
    apps: client.AppsV1Api
    batch: client.BatchV1Api
    custom: client.CustomObjectsApi

    @classmethod
    def create(cls, kubeconfig: str | None = None) -> Clients:
        try:
            if kubeconfig:
                raise config.ConfigException("kubeconfig given")
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config(config_file=kubeconfig)
        api = client.ApiClient()
        return cls(client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api), client.CustomObjectsApi(api))
