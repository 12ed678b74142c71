"""Node pool profiles: which nodes, taints, resources, runtime and device fit an accelerator."""
