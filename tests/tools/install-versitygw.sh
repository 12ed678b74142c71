#!/usr/bin/env bash
# Builds the versitygw S3 gateway (a real S3-compatible server with a POSIX backend)
# from its Go module into a cache outside the repository, once. The S3 tests start it
# on 127.0.0.1 and skip when it is absent.
set -euo pipefail
VERSION="${VERSITYGW_VERSION:-v1.8.0}"
CACHE="${MODELROLLOUT_CACHE:-$HOME/.cache/modelrollout}"
BIN_DIR="$CACHE/bin"
TARGET="$BIN_DIR/versitygw-$VERSION"
if [[ -x "$TARGET" ]]; then
  echo "$TARGET"
  exit 0
fi
mkdir -p "$BIN_DIR"
TMP_BIN="$(mktemp -d "$BIN_DIR/versitygw.XXXXXX")"
trap 'rm -rf "$TMP_BIN"' EXIT
GOBIN="$TMP_BIN" go install -trimpath -ldflags "-s -w" \
  "github.com/versity/versitygw/cmd/versitygw@$VERSION"
mv "$TMP_BIN/versitygw" "$TARGET"
echo "$TARGET"
