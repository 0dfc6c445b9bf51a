# schemaflow: one image for the operator, the migration Job and the wait container.
#   podman build -t schemaflow:0.1.0 .        (or docker build)
# Build arguments: BASE_IMAGE (a Debian bookworm image; python3 comes from its apt),
# VERSION, REVISION, CREATED (OCI annotations).
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# --- stage 1: build the wheel and a virtualenv with its dependencies -----------------
FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# dependencies first, in their own layer: code changes do not re-download them
COPY pyproject.toml ./
RUN python3 -m venv /opt/schemaflow/venv \
 && python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt \
 && /opt/schemaflow/venv/bin/pip install -r /tmp/requirements.txt
COPY README.md ./
COPY operator/ operator/
RUN python3 -m pip wheel --no-deps --wheel-dir /dist . \
 && /opt/schemaflow/venv/bin/pip install --no-deps /dist/schemaflow-*.whl \
 && /opt/schemaflow/venv/bin/pip uninstall -y -q setuptools pip \
 && /opt/schemaflow/venv/bin/schemaflow --version

# --- stage 2: slim runtime --------------------------------------------------------------
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# no docs, man pages or translations in the runtime image
RUN printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
      'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' \
      'path-exclude=/usr/share/locale/*' 'path-include=/usr/share/locale/locale.alias' \
      > /etc/dpkg/dpkg.cfg.d/90-slim \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 65532 schemaflow \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin schemaflow
ENV PATH=/opt/schemaflow/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SCHEMAFLOW_SQL_DIR=/opt/schemaflow/sql \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# numeric, so Kubernetes can verify runAsNonRoot without a passwd lookup
USER 65532:65532
WORKDIR /opt/schemaflow
EXPOSE 8080 9090
ENTRYPOINT ["schemaflow"]
CMD ["--help"]
# what changes with the code comes last: the steps above stay cached
COPY --from=build /opt/schemaflow/venv /opt/schemaflow/venv
COPY sql/ /opt/schemaflow/sql/
ARG VERSION=0.1.0 REVISION=unknown CREATED=unknown BASE_IMAGE
LABEL org.opencontainers.image.title="schemaflow" \
      org.opencontainers.image.description="PostgreSQL schema migrations on Kubernetes: preflight, apply, verify, automatic rollback" \
      org.opencontainers.image.source="https://github.com/domainflow/schemaflow" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="DomainFlow" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
