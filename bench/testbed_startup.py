"""Set-up and tear-down times of the local test bed, measured side by side in one run.

    python bench/testbed_startup.py [--runs 3]

Prints the time build.sh takes to find (or build) the binaries, then for each run the
time until the control plane is up with every pool's nodes Ready and the default
ServiceAccount made, the time to stop it, and the same for Prometheus.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from e2e.testbed import binaries, controlplane, prometheus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    began = time.monotonic()
    bins = binaries.build_control_plane()
    print(f"binaries (build.sh)            {time.monotonic() - began:8.2f} s")

    rows: dict[str, list[float]] = {k: [] for k in ("plane up", "plane down", "prom up", "prom down")}
    nodes = 0
    for _ in range(args.runs):
        plane = controlplane.ControlPlane(bins)
        nodes = len(plane.node_names)
        began = time.monotonic()
        plane.start()
        rows["plane up"].append(time.monotonic() - began)
        began = time.monotonic()
        plane.stop()
        rows["plane down"].append(time.monotonic() - began)
        server = prometheus.Prometheus()
        began = time.monotonic()
        server.start()
        rows["prom up"].append(time.monotonic() - began)
        began = time.monotonic()
        server.stop()
        rows["prom down"].append(time.monotonic() - began)
    labels = {
        "plane up": f"control plane up, {nodes} nodes Ready",
        "plane down": "control plane stopped",
        "prom up": "prometheus ready",
        "prom down": "prometheus stopped",
    }
    for key, values in rows.items():
        print(
            f"{labels[key]:<31}{statistics.median(values):8.2f} s median"
            f"  (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
