"""The local test bed: a real Kubernetes control plane, KWOK node pools and Prometheus.

Everything runs as plain processes on 127.0.0.1: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler built from their Go modules
(`e2e/cluster/`), KWOK simulating the nodes of each pool, and Debian's Prometheus.
The e2e tests and the demo (`python -m e2e.testbed.demo`, `make demo`) both start it from
here. It is not part of the product: nothing under `operator/` imports it and the image
does not carry it.
"""
