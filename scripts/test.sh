#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what it needs, then runs pytest.
# Extra arguments go to pytest (e.g. --long for the long scenarios).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh test,bench
export PATH="$PWD/.tools/bin:$PWD/.venv/bin:$PATH"
# The real counterparts built from Go modules (kube-apiserver, kube-controller-manager, etcd,
# golang-migrate): about 7 minutes on 2 cores the first time, then cached per machine.
command -v go >/dev/null || { echo "test.sh: Go 1.26+ is needed to build the control plane" >&2; exit 1; }
bash tests/gobin/build.sh >/dev/null
set +e
# -X faulthandler: a crash at interpreter exit, after pytest has put its own handler
# away, still prints every thread's stack
.venv/bin/python -X faulthandler -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$rc"
