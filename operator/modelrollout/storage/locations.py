"""Parsing storage URIs into locations (pure)."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import urllib.parse
from typing import Final

from modelrollout import names
from modelrollout.storage.errors import StorageError

SCHEMES: Final = ("file", "pvc", "http", "https", "s3", "models")


@dataclasses.dataclass(frozen=True)
class Location:
    """A parsed URI: its scheme and, per scheme, a local path, a bucket/key or a URL."""

    uri: str
    scheme: str
    path: pathlib.Path | None = None  # file:// and pvc://
    bucket: str = ""  # s3://
    key: str = ""  # s3://
    name: str = ""  # models:/ (MLflow registered model)


def pvc_root() -> pathlib.Path:
    """Where PersistentVolumeClaims are mounted: `<root>/<claim>`; configurable by env."""
    return pathlib.Path(os.environ.get(names.ENV_PVC_ROOT, names.PVC_MOUNT_ROOT))


def parse(uri: str, *, pvc_mount_root: pathlib.Path | None = None) -> Location:
    """Parse `uri`; raise StorageError naming the URI when it cannot be understood."""
    if not uri:
        raise StorageError("empty URI")
    parsed = urllib.parse.urlsplit(uri)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        return _file(uri, parsed)
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


def _file(uri: str, parsed: urllib.parse.SplitResult) -> Location:
    if parsed.netloc not in ("", "localhost"):
        raise StorageError(f"file URI {uri!r} names a host; use file:///absolute/path")
    path = urllib.parse.unquote(parsed.path)
    if not path.startswith("/"):
        raise StorageError(f"file URI {uri!r} must hold an absolute path")
    return Location(uri=uri, scheme="file", path=pathlib.Path(path))


def _pvc(uri: str, parsed: urllib.parse.SplitResult, root: pathlib.Path) -> Location:
    claim = parsed.netloc
    rel = urllib.parse.unquote(parsed.path).lstrip("/")
    if not claim:
        raise StorageError(f"pvc URI {uri!r} has no claim name; use pvc://<claim>/<path>")
    if ".." in pathlib.PurePosixPath(rel).parts:
        raise StorageError(f"pvc URI {uri!r} must not leave its claim with '..'")
    return Location(uri=uri, scheme="pvc", path=root / claim / rel)


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
