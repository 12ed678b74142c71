"""The Open Inference Protocol gRPC definition and its generated message classes."""
