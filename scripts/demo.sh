#!/usr/bin/env bash
# The demo from a fresh clone: installs schemaflow in .venv, then runs `schemaflow demo`
# (embedded PostgreSQL, DomainFlow at version 26, plan -> up -> verify). Arguments go to it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh demo
exec .venv/bin/schemaflow demo "$@"
