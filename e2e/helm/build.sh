#!/usr/bin/env bash
# Builds (or reuses) helm from its Go module (go.mod here pins the version) into a cache
# outside the repository, keyed by go.mod, go.sum and this script. Prints the binary's
# path on its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${MODELROLLOUT_CACHE:-$HOME/.cache/modelrollout}"
key="$(cat "$here/go.mod" "$here/go.sum" "$0" | sha256sum | cut -c1-12)"
bin="$cache/bin/helm-${key}"
if [[ -x "$bin/helm" ]]; then
  echo "$bin/helm"
  exit 0
fi
export GOFLAGS="${GOFLAGS:--buildvcs=false} -mod=readonly"
mkdir -p "$bin.tmp"
cd "$here"
echo "building helm (cold: a few minutes)" >&2
go build -trimpath -ldflags "-s -w" -o "$bin.tmp/helm" helm.sh/helm/v4/cmd/helm
rm -rf "$bin" && mv "$bin.tmp" "$bin"
echo "$bin/helm"
