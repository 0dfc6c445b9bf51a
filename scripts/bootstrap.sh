#!/usr/bin/env bash
# Installs everything the demo, the tests and the benchmarks need, idempotently:
# Debian's PostgreSQL 15 (as root), a virtualenv in .venv with the project and its extras,
# and, for the tests, the tools of scripts/tools.sh (helm, kubectl, promtool, podman).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
EXTRAS="${1:-test,bench}"

need_apt=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_apt+=(postgresql-15)
if [ "${#need_apt[@]}" -gt 0 ] && [ "$EXTRAS" != "demo" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: apt-get install ${need_apt[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    # Debian starts a cluster on install; the tests run their own servers.
    (service postgresql stop || true) >/dev/null 2>&1
  else
    echo "bootstrap: please install as root: apt-get install ${need_apt[*]}" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-12)-${EXTRAS//,/-}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip 2>&1 | grep -v WARNING || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[${EXTRAS}]" 2>&1 | grep -v WARNING || true
  .venv/bin/python -c "import schemaflow, psycopg" 
  touch "$stamp"
fi

if [ "$EXTRAS" != "demo" ]; then
  bash scripts/tools.sh
fi
