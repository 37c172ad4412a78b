# The operator image: `make image` builds it (with docker or podman) as the chart's default
# image, ghcr.io/mlops-operator/mlops-operator:<version in pyproject.toml>.
#
# Two stages: the first builds the project's wheel and installs it, with its dependencies,
# into a virtualenv; the second is the same slim base with only that virtualenv, run as a
# non-root user (65532, the chart's runAsUser) with nothing to write but /tmp (the chart
# mounts the root filesystem read-only).
#
# The base is pinned by tag. Pin it by digest where an engine is available, and let a bot
# bump it:
#   docker buildx imagetools inspect python:3.11-slim-bookworm --format '{{json .Manifest.Digest}}'
#   ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<that digest>
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Only what the wheel is made of (.dockerignore keeps the rest out of the context).
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv /opt/mlops-operator \
 && /opt/mlops-operator/bin/pip install /dist/*.whl

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="mlops-operator" \
      org.opencontainers.image.description="Kubernetes operator for the machine-learning loop: TrainingJob, ModelDeployment, RetrainPolicy" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/mlops-operator /opt/mlops-operator
ENV PATH=/opt/mlops-operator/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so that Pod Security "restricted" (runAsNonRoot) can verify it without a passwd
# entry.
USER 65532:65532
# Metrics and /healthz (the chart's metricsPort and healthPort).
EXPOSE 8080 8081
ENTRYPOINT ["mlops-operator"]
CMD ["run"]
