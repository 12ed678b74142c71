"""Parsing storage URIs into locations (pure).

A local location (file://, pvc://) is confined to roots: a pvc:// path to its claim's
mount, a file:// path to the allowed file roots when the operator names any
($MODELROLLOUT_FILE_ROOTS). Parsing refuses what can be refused from the text alone
(`..`, NUL, a claim that is not a claim name, a relative path); the fetch resolves
symlinks and checks the real path against the same roots.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import urllib.parse
from typing import Final

from modelrollout import names
from modelrollout.storage.errors import StorageError

SCHEMES: Final = ("file", "pvc", "http", "https", "s3", "models")
# A PersistentVolumeClaim's name: a DNS-1123 subdomain (and so never '..').
_CLAIM: Final = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclasses.dataclass(frozen=True)
class Location:
    """A parsed URI: its scheme and, per scheme, a local path, a bucket/key or a URL."""

    uri: str
    scheme: str
    path: pathlib.Path | None = None  # file:// and pvc://
    bucket: str = ""  # s3://
    key: str = ""  # s3://
    name: str = ""  # models:/ (MLflow registered model)
    # file:// and pvc://: the path, symlinks resolved, must stay under one of these
    # (none: a file:// path may be anywhere absolute).
    roots: tuple[pathlib.Path, ...] = ()


def pvc_root() -> pathlib.Path:
    """Where PersistentVolumeClaims are mounted: `<root>/<claim>`; configurable by env."""
    return pathlib.Path(os.environ.get(names.ENV_PVC_ROOT, names.PVC_MOUNT_ROOT))


def file_roots() -> tuple[pathlib.Path, ...]:
    """The directories file:// URIs may name ($MODELROLLOUT_FILE_ROOTS, ':'-separated); none: any."""
    raw = os.environ.get(names.ENV_FILE_ROOTS, "")
    return tuple(pathlib.Path(p) for p in raw.split(os.pathsep) if p.strip())


def _local_path(uri: str, raw: str) -> str:
    path = urllib.parse.unquote(raw)
    if "\x00" in path:
        raise StorageError(f"URI {uri!r} holds a NUL character")
    if ".." in pathlib.PurePosixPath(path).parts:
        raise StorageError(f"URI {uri!r} must not contain '..'")
    return path


def parse(
    uri: str,
    *,
    pvc_mount_root: pathlib.Path | None = None,
    allowed_file_roots: tuple[pathlib.Path, ...] | None = None,
) -> Location:
    """Parse `uri`; raise StorageError naming the URI when it cannot be understood."""
    if not uri:
        raise StorageError("empty URI")
    parsed = urllib.parse.urlsplit(uri)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        return _file(uri, parsed, file_roots() if allowed_file_roots is None else allowed_file_roots)
    if scheme == "pvc":
        return _pvc(uri, parsed, pvc_mount_root if pvc_mount_root is not None else pvc_root())
    if scheme in ("http", "https"):
        if not parsed.netloc:
            raise StorageError(f"URL {uri!r} has no host")
        return Location(uri=uri, scheme=scheme)
    if scheme == "s3":
        if not parsed.netloc:
            raise StorageError(f"s3 URI {uri!r} has no bucket; use s3://<bucket>/<key>")
        return Location(uri=uri, scheme=scheme, bucket=parsed.netloc, key=parsed.path.lstrip("/"))
    if scheme == "models":
        return _models(uri)
    raise StorageError(f"unsupported URI scheme in {uri!r}; expected one of {', '.join(SCHEMES)}")


def _file(uri: str, parsed: urllib.parse.SplitResult, roots: tuple[pathlib.Path, ...]) -> Location:
    if parsed.netloc not in ("", "localhost"):
        raise StorageError(f"file URI {uri!r} names a host; use file:///absolute/path")
    path = _local_path(uri, parsed.path)
    if not path.startswith("/"):
        raise StorageError(f"file URI {uri!r} must hold an absolute path")
    if roots and not any(pathlib.PurePosixPath(path).is_relative_to(r) for r in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise StorageError(f"file URI {uri!r} is outside the allowed file roots ({allowed})")
    return Location(uri=uri, scheme="file", path=pathlib.Path(path), roots=roots)


def _pvc(uri: str, parsed: urllib.parse.SplitResult, mount_root: pathlib.Path) -> Location:
    claim = urllib.parse.unquote(parsed.netloc)
    rel = _local_path(uri, parsed.path).lstrip("/")
    if not claim:
        raise StorageError(f"pvc URI {uri!r} has no claim name; use pvc://<claim>/<path>")
    if ".." in claim or not _CLAIM.match(claim):
        raise StorageError(f"pvc URI {uri!r}: {claim!r} is not a claim name (lower case DNS-1123)")
    root = mount_root / claim
    return Location(uri=uri, scheme="pvc", path=root / rel, roots=(root,))


def _models(uri: str) -> Location:
    """models:/<name>/<version> or models:/<name>@<alias>."""
    rest = uri[len("models:") :].lstrip("/")
    name, _, ref = rest.partition("@") if "@" in rest else rest.partition("/")
    if not name or not ref:
        raise StorageError(f"MLflow URI {uri!r} must be models:/<name>/<version> or models:/<name>@<alias>")
    return Location(uri=uri, scheme="models", name=name)


def join(store_uri: str, *parts: str) -> str:
    """Join path parts under a store URI (directory or prefix), with single slashes."""
    cleaned = [p.strip("/") for p in parts if p.strip("/")]
    for part in cleaned:
        if ".." in part.split("/"):
            raise StorageError(f"path part {part!r} must not contain '..'")
    return "/".join([store_uri.rstrip("/"), *cleaned])
