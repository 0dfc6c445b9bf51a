#!/usr/bin/env bash
# Builds the real counterparts the tests run, once per machine, into a cache keyed by the
# pinned module versions (a hash of each module's go.mod and go.sum):
#   kube-apiserver, kube-controller-manager   from k8s.io/kubernetes   (kube/)
#   etcd                                      from go.etcd.io/etcd     (etcd/)
#   migrate (CLI), migrate-withinstance       from golang-migrate      (migrate/)
# Prints the bin directory. Usage: tests/gobin/build.sh [kube|etcd|migrate ...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${SCHEMAFLOW_GOBIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/schemaflow-gobin}"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
bin="$cache/bin"
mkdir -p "$bin"

key() { (cd "$here/$1" && find . -name 'go.*' -o -name '*.go' | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-16; }

build() {  # build MODULE OUTPUT... : skip when the stamp of this module's key exists
  local mod="$1" stamp
  stamp="$cache/stamps/$mod-$(key "$mod")"
  [ -f "$stamp" ] && return 0
  local t0=$SECONDS
  echo "gobin: building $mod (first time on this machine; cached afterwards)" >&2
  cd "$here/$mod"
  case "$mod" in
    kube)
      # the version stamp hack/lib/version.sh sets; without it the server says v0.0.0 and
      # helm refuses charts with a kubeVersion constraint
      local v major minor flags=(-s)
      v="$(awk '{for (i = 1; i < NF; i++) if ($i == "k8s.io/kubernetes" && $(i+1) ~ /^v/) {print $(i+1); exit}}' go.mod)"
      major="${v#v}"; major="${major%%.*}"; minor="${v#v*.}"; minor="${minor%%.*}"
      for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
        flags+=("-X" "$pkg.gitVersion=$v" "-X" "$pkg.gitMajor=$major" "-X" "$pkg.gitMinor=$minor"
                "-X" "$pkg.gitTreeState=clean")
      done
      go build -tags providerless -trimpath -ldflags="${flags[*]}" -o "$bin/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager ;;
    etcd)
      go build -trimpath -ldflags=-s -o "$bin/etcd" . ;;
    migrate)
      go build -tags postgres -trimpath -ldflags=-s -o "$bin/migrate" \
        github.com/golang-migrate/migrate/v4/cmd/migrate
      go build -trimpath -ldflags=-s -o "$bin/migrate-withinstance" ./withinstance ;;
  esac
  mkdir -p "$cache/stamps"
  rm -f "$cache/stamps/$mod"-*
  touch "$stamp"
  echo "gobin: built $mod in $((SECONDS - t0)) s" >&2
}

mods=("$@")
[ "${#mods[@]}" -gt 0 ] || mods=(migrate etcd kube)
for m in "${mods[@]}"; do build "$m"; done
echo "$bin"
