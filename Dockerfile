# schemaflow: one image for the operator, the migration Job and the wait container.
#   podman build -t schemaflow:0.1.0 .        (or docker build)
# Build arguments: BASE_IMAGE (a Debian bookworm image; python3 comes from its apt),
# VERSION, REVISION, CREATED (OCI annotations).
#
# Three stages; only the last is shipped:
#   build    the wheel and a virtualenv with its dependencies (pip and its caches stay here)
#   runtime  collects the files the programs run with into /rootfs: Debian's python3 and
#            its standard library, the shared libraries they and the virtualenv's
#            extension modules load (found with ldd), a shell and the few tools the image
#            test uses, the CA bundle, and the users
#   final    FROM scratch: /rootfs, the virtualenv and the SQL. No package manager,
#            compiler, pip or cache.
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
# the CRD (the one definition of the spec's schema) goes into the wheel: the operator
# validates each spec with it
COPY charts/schemaflow/files/schemamigrations.crd.yaml operator/schemaflow/crd/
# kubernetes' asyncio client (kubernetes/aio, 68 MB) is never imported: schemaflow uses the
# synchronous one for its configuration and the wait command, aiohttp for the operator's
# own calls. The generated kubernetes client is mostly docstrings: it ships as bytecode
# compiled without them (-OO, 19 MB instead of 59; it reads no docstring). Bytecode is
# compiled once here; none is written at run time.
RUN python3 -m pip wheel --no-deps --wheel-dir /dist . \
 && /opt/schemaflow/venv/bin/pip install --no-deps /dist/schemaflow-*.whl \
 && /opt/schemaflow/venv/bin/pip uninstall -y -q setuptools pip \
 && site=$(/opt/schemaflow/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
 && rm -rf "$site/kubernetes/aio" \
 && ! grep -rqE 'kubernetes[.]aio|from kubernetes import aio' "$site/schemaflow" "$site/kopf" \
 && find /opt/schemaflow/venv -name __pycache__ -prune -exec rm -rf {} + \
 && /opt/schemaflow/venv/bin/python -OO -m compileall -q -b -j 0 "$site/kubernetes" \
 && find "$site/kubernetes" -name '*.py' -delete \
 && /opt/schemaflow/venv/bin/python -m compileall -q -j 0 /opt/schemaflow/venv \
 && /opt/schemaflow/venv/bin/schemaflow --version \
 && /opt/schemaflow/venv/bin/python -c 'import kubernetes.client, kubernetes.config, kopf, psycopg, schemaflow.cli' \
 && /opt/schemaflow/venv/bin/python -c 'from schemaflow.crd import crd_document; crd_document()'

# --- stage 2: the runtime's files, collected into /rootfs ------------------------------
FROM ${BASE_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/schemaflow/venv /opt/schemaflow/venv
RUN set -eu; R=/rootfs; \
    mkdir -p $R/usr/bin $R/usr/sbin $R/usr/lib $R/usr/lib64 $R/etc $R/tmp $R/opt/schemaflow; \
    for d in bin sbin lib lib64; do ln -s usr/$d $R/$d; done; \
    chmod 1777 $R/tmp; \
    tools="/usr/bin/python3.11 /usr/bin/dash /usr/bin/env /usr/bin/id /usr/bin/ls /usr/bin/cat /usr/bin/touch /usr/bin/wc"; \
    cp -a $tools $R/usr/bin/; \
    ln -s python3.11 $R/usr/bin/python3; ln -s dash $R/usr/bin/sh; \
    cp -a --parents /usr/lib/python3.11 /usr/lib/ssl /etc/ssl /usr/lib/os-release /etc/os-release \
        /etc/nsswitch.conf /etc/ld.so.conf /etc/ld.so.conf.d /usr/share/doc/python3.11/copyright $R; \
    rm -rf $R/usr/lib/python3.11/pydoc_data $R/usr/lib/python3.11/lib2to3; \
    find $R/etc/ssl -xtype l -delete; \
    { for f in $tools; do ldd $f; done; \
      find /usr/lib/python3.11/lib-dynload /opt/schemaflow/venv -name '*.so*' -type f -exec ldd {} \; ; } 2>/dev/null \
      | grep -oE '(/usr)?/lib(64)?/[^ ]+' | sort -u > /tmp/libs; \
    while read -r lib; do \
      [ -e "$lib" ] || continue; \
      cp -a --parents "$(readlink -f "$(dirname "$lib")")/$(basename "$lib")" $R; \
      cp -a --parents "$(readlink -f "$lib")" $R; \
    done < /tmp/libs; \
    ldconfig -r $R; \
    printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
      'schemaflow:x:65532:65532:schemaflow:/nonexistent:/usr/sbin/nologin' > $R/etc/passwd; \
    printf '%s\n' 'root:x:0:' 'schemaflow:x:65532:' > $R/etc/group; \
    chroot $R /usr/bin/python3 -c 'import ssl, sqlite3, ctypes, zoneinfo, json, hashlib, uuid; ssl.create_default_context()'

# --- stage 3: the shipped image: copies only, nothing of the build ---------------------
FROM scratch
COPY --from=runtime /rootfs/ /
ENV PATH=/opt/schemaflow/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SCHEMAFLOW_SQL_DIR=/opt/schemaflow/sql \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONUTF8=1
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
