"""The one place that opens models: ONNX Runtime and OpenVINO sessions and their options.

The optimizer measures candidates and the server serves them through this package, so
the artifact in production runs under exactly the options it was measured with
(`options.py` holds that policy; `sessions.open_session` applies it).
"""
