#!/usr/bin/env bash
# The demo from a fresh clone: installs schemaflow in .venv, then runs `schemaflow demo`
# (embedded PostgreSQL, DomainFlow at version 26, plan -> up -> verify). Arguments go to it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -f .venv/bin/schemaflow ] || echo "demo: first run: installing schemaflow and an embedded PostgreSQL 18 into .venv (about a minute)"
bash scripts/bootstrap.sh demo
exec .venv/bin/schemaflow demo "$@"
