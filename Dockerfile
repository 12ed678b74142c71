# syntax=docker/dockerfile:1
# One image for every role of modelrollout: `modelrollout operator` (the default),
# `modelrollout optimize` (the optimization Job) and `modelrollout serve` (inference).
# One build per accelerator, named in the pool profile's `image`:
#   docker build --build-arg ACCELERATOR=cpu|cuda|intel -t modelrollout:0.1.0-cpu .
# cpu is the default; cuda adds ONNX Runtime's CUDA and TensorRT providers; intel adds
# the OpenCL and Level Zero runtimes of OpenVINO's GPU plugin (scripts/accelerator-image.sh).
#
# The base is pinned by its full version tag. Pin it by digest as well
# (python:3.11.14-slim-bookworm@sha256:...) in a build pipeline that can reach the
# registry to resolve one; this repository's tests run where no registry is reachable.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

ARG ACCELERATOR=cpu

FROM ${PYTHON_IMAGE} AS build
ARG ACCELERATOR
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/modelrollout
COPY pyproject.toml ./
COPY operator/ ./operator/
COPY scripts/accelerator-image.sh ./scripts/
# Runtime dependencies and the MLflow client (models:/ sources); no [test] extra.
# Their bounds live in pyproject.toml.
RUN /opt/modelrollout/bin/pip install --no-cache-dir ".[mlflow]" \
    && sh scripts/accelerator-image.sh python "${ACCELERATOR}" /opt/modelrollout \
    && /opt/modelrollout/bin/modelrollout --help

FROM ${PYTHON_IMAGE}
ARG ACCELERATOR
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="modelrollout" \
      org.opencontainers.image.description="Kubernetes operator that optimizes ML models, schedules them on the right node pool and canaries new versions on Prometheus SLOs." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}" \
      io.modelrollout.accelerator="${ACCELERATOR}"
COPY scripts/accelerator-image.sh /usr/local/lib/modelrollout/
RUN sh /usr/local/lib/modelrollout/accelerator-image.sh system "${ACCELERATOR}"
# A fixed, unprivileged uid/gid: the Deployment's securityContext names the same ones.
RUN groupadd --system --gid 10001 modelrollout \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin modelrollout
COPY --from=build /opt/modelrollout /opt/modelrollout
ENV PATH=/opt/modelrollout/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# 8080: operator metrics and the inference server; 8081: the operator's liveness probe.
EXPOSE 8080 8081
ENTRYPOINT ["modelrollout"]
CMD ["operator"]
