#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what it needs, then runs pytest.
# Extra arguments go to pytest (e.g. --long for the long scenarios).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh test,bench
export PATH="$PWD/.tools/bin:$PWD/.venv/bin:$PATH"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$rc"
