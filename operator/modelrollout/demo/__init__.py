"""The embedded default: a local cluster and a sample ModelDeployment going through a rollout."""
