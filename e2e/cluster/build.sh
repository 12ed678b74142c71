#!/usr/bin/env bash
# Builds (or reuses) the test bed's binaries: kube (apiserver, controller-manager and
# scheduler in one multi-call binary), etcd and kwok. Output goes to a cache outside
# the repository keyed by the pinned versions and the build sources, so a second run
# costs seconds. Prints the bin directory on its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${MODELROLLOUT_CACHE:-$HOME/.cache/modelrollout}"
key="$(cat "$here/versions.env" "$here/go.mod" "$here/go.sum" "$here"/cmd/*/main.go "$0" | sha256sum | cut -c1-12)"
bin="$cache/bin/k8s-${K8S_VERSION}-${key}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

if [[ -x "$bin/kube" && -x "$bin/etcd" && -x "$bin/kwok" ]]; then
  echo "reusing $bin" >&2
  echo "$bin"
  exit 0
fi
mkdir -p "$bin.tmp"
start=$(date +%s)
cd "$here"
major="${K8S_VERSION#v}"; major="${major%%.*}"
minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor}"
  ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
done
# Two cores and a few GB: one package at a time in the link step keeps the peak low.
echo "building kube ${K8S_VERSION} (cold: tens of minutes)" >&2
go build -trimpath -ldflags "$ldflags" -o "$bin.tmp/kube" ./cmd/kube
echo "building etcd" >&2
go build -trimpath -ldflags "-s -w" -o "$bin.tmp/etcd" ./cmd/etcd
echo "building kwok ${KWOK_VERSION}" >&2
GOBIN="$bin.tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
for c in kube-apiserver kube-controller-manager kube-scheduler; do ln -sf kube "$bin.tmp/$c"; done
rm -rf "$bin" && mv "$bin.tmp" "$bin"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
