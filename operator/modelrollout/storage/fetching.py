"""Fetch a model from its URI into a local directory, verified.

Schemes: file://, pvc://<claim>/<path>, http(s)://, s3://<bucket>/<key> (boto3; endpoint
and credentials from the environment, where a Secret is mounted as env vars) and MLflow
registry URIs models:/<name>/<version> and models:/<name>@<alias> (tracking server from
MLFLOW_TRACKING_URI). An OpenVINO IR `.xml` brings its `.bin` along.

Nothing leaves its bounds: a local path, symlinks resolved, stays under its roots (see
locations); an http(s) download has a total deadline and a size cap, follows at most
MAX_REDIRECTS redirects and never from https to http; credentials in a URL's user info
are sent as Basic auth to its own host only, and never written in a message.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import http.client
import logging
import os
import pathlib
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, Final

from modelrollout import names
from modelrollout.storage import locations, s3
from modelrollout.storage.errors import StorageError, redact

log = logging.getLogger(__name__)

MODEL_SUFFIXES: Final = (".onnx", ".xml")
MAX_REDIRECTS: Final = 5
_CHUNK: Final = 1 << 20
# Each socket operation; the whole download is bounded by Limits.deadline.
_HTTP_SOCKET_TIMEOUT_S: Final = 60.0


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one remote download may take: bytes (per file) and wall-clock time."""

    max_bytes: int = 20 << 30
    deadline: datetime.timedelta = datetime.timedelta(hours=1)

    @classmethod
    def from_env(cls) -> Limits:
        default = cls()
        try:
            max_bytes = int(os.environ.get(names.ENV_DOWNLOAD_MAX_BYTES) or default.max_bytes)
            seconds = float(os.environ.get(names.ENV_DOWNLOAD_DEADLINE_SECONDS) or default.deadline.total_seconds())
        except ValueError as e:
            raise StorageError(f"download limits: {e}") from None
        return cls(max_bytes=max_bytes, deadline=datetime.timedelta(seconds=seconds))


def fetch(
    uri: str,
    dest_dir: pathlib.Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    pvc_mount_root: pathlib.Path | None = None,
    limits: Limits | None = None,
) -> pathlib.Path:
    """Fetch `uri` into `dest_dir` and return the local path of the model file.

    `sha256` and `size` check the model file (for an IR, its `.xml`); on a mismatch the
    download is removed and StorageError says what differed.
    """
    loc = locations.parse(uri, pvc_mount_root=pvc_mount_root)
    dest_dir.mkdir(parents=True, exist_ok=True)
    bounds = limits or Limits.from_env()
    if loc.scheme in ("file", "pvc"):
        path = _copy_local(confined(loc), dest_dir, loc)
    elif loc.scheme in ("http", "https"):
        path = _fetch_with_sibling(uri, dest_dir, lambda u, part: _download_http(u, part, bounds))
    elif loc.scheme == "s3":
        path = _fetch_with_sibling(uri, dest_dir, lambda u, part: _download_s3(u, part, bounds))
    else:
        path = _fetch_mlflow(uri, dest_dir)
    try:
        verify(path, sha256=sha256, size=size)
    except StorageError:
        path.unlink(missing_ok=True)
        raise
    return path


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: pathlib.Path, *, sha256: str | None = None, size: int | None = None) -> None:
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise StorageError(f"{path.name}: size {actual_size} bytes, expected {size} (truncated?)")
    if sha256:
        actual = sha256_of(path)
        if actual.lower() != sha256.strip().lower():
            raise StorageError(f"{path.name}: sha256 {actual} does not match expected {sha256}")


def local_path(uri: str, *, pvc_mount_root: pathlib.Path | None = None) -> pathlib.Path:
    """The real path of a file:// or pvc:// URI, confined to its roots, without copying it."""
    loc = locations.parse(uri, pvc_mount_root=pvc_mount_root)
    if loc.path is None:
        raise StorageError(f"{uri}: not a local (file:// or pvc://) URI")
    return confined(loc)


def confined(loc: locations.Location) -> pathlib.Path:
    """`loc`'s path with symlinks resolved, refused when it (or, for a directory, anything
    in it) resolves outside the location's roots."""
    assert loc.path is not None
    try:
        real = loc.path.resolve(strict=True)
    except FileNotFoundError:
        raise StorageError(f"{loc.uri}: no such file or directory") from None
    except (OSError, RuntimeError) as e:  # a symlink loop is a RuntimeError
        raise StorageError(f"{loc.uri}: cannot resolve the path ({e})") from None
    if not loc.roots:
        return real
    roots = [r.resolve() for r in loc.roots]
    _inside(real, roots, loc.uri)
    if real.is_dir():
        for top, dirs, files in os.walk(real):
            for entry in (*dirs, *files):
                candidate = pathlib.Path(top, entry)
                if candidate.is_symlink():
                    _inside(candidate.resolve(), roots, loc.uri)
    return real


def _inside(real: pathlib.Path, roots: list[pathlib.Path], uri: str) -> None:
    if not any(real.is_relative_to(r) for r in roots):
        raise StorageError(f"{uri}: resolves outside its root (through a symlink)")


def find_model_file(directory: pathlib.Path, what: str) -> pathlib.Path:
    """The one model file (.onnx or .xml) under `directory`."""
    found = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in MODEL_SUFFIXES)
    if not found:
        raise StorageError(f"{what} holds no .onnx or .xml model file")
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(directory)) for p in found[:5])
        raise StorageError(f"{what} holds several model files ({names}); point at one")
    return found[0]


def _copy_local(src: pathlib.Path, dest_dir: pathlib.Path, loc: locations.Location) -> pathlib.Path:
    uri = loc.uri
    if src.is_dir():
        target = dest_dir / src.name
        shutil.copytree(src, target, dirs_exist_ok=True)
        return find_model_file(target, uri)
    target = dest_dir / src.name
    _atomic_copy(src, target)
    if src.suffix == ".xml":
        weights = src.with_suffix(".bin")
        if not weights.exists():
            raise StorageError(f"{uri}: OpenVINO IR weights {weights.name} are missing")
        sibling = dataclasses.replace(loc, path=weights)
        _atomic_copy(confined(sibling), target.with_suffix(".bin"))
    return target


def _atomic_copy(src: pathlib.Path, target: pathlib.Path) -> None:
    part = target.with_name(target.name + ".part")
    shutil.copyfile(src, part)
    part.replace(target)


Downloader = Callable[[str, pathlib.Path], None]


def _fetch_with_sibling(uri: str, dest_dir: pathlib.Path, download: Downloader) -> pathlib.Path:
    name = uri.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "model"
    target = dest_dir / name
    _download_to(uri, target, download)
    if target.suffix == ".xml":
        _download_to(uri.rsplit(".", 1)[0] + ".bin", target.with_suffix(".bin"), download)
    return target


def _download_to(uri: str, target: pathlib.Path, download: Downloader) -> None:
    part = target.with_name(target.name + ".part")
    try:
        download(uri, part)
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)


class _Progress:
    """Logs a long download every 10% so a Job's log shows it is alive."""

    def __init__(self, what: str, total: int | None) -> None:
        self.what, self.total, self.done, self.next_pct = what, total, 0, 10

    def __call__(self, n: int) -> None:
        self.done += n
        if self.total and self.total > 8 * _CHUNK:
            pct = 100 * self.done // self.total
            if pct >= self.next_pct:
                log.info("downloading %s: %d%% of %d bytes", redact(self.what), pct, self.total)
                self.next_pct = (pct // 10 + 1) * 10


class _Redirects(urllib.request.HTTPRedirectHandler):
    """At most MAX_REDIRECTS hops, never from https down to http."""

    max_redirections = max_repeats = MAX_REDIRECTS

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if req.type == "https" and urllib.parse.urlsplit(newurl).scheme.lower() != "https":
            raise StorageError(f"{req.full_url}: refused a redirect from https to {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _request(url: str) -> urllib.request.Request:
    """The request for `url`, its user info moved into a Basic auth header that is not
    repeated to another host on a redirect."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and "@" not in parts.netloc:
        return urllib.request.Request(url)
    host = parts.netloc.rsplit("@", 1)[1]
    request = urllib.request.Request(urllib.parse.urlunsplit(parts._replace(netloc=host)))
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def _download_http(url: str, part: pathlib.Path, limits: Limits) -> None:
    started = time.monotonic()
    deadline_s = limits.deadline.total_seconds()
    opener = urllib.request.build_opener(_Redirects)
    try:
        request = _request(url)
        with opener.open(request, timeout=min(_HTTP_SOCKET_TIMEOUT_S, deadline_s)) as resp, part.open("wb") as f:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > limits.max_bytes:
                raise StorageError(f"{url}: {total} bytes is more than the limit of {limits.max_bytes}")
            progress = _Progress(url, total)
            # read1: one socket read at a time, so a server that trickles bytes meets the deadline.
            while chunk := resp.read1(_CHUNK):
                f.write(chunk)
                progress(len(chunk))
                if progress.done > limits.max_bytes:
                    raise StorageError(f"{url}: more than the limit of {limits.max_bytes} bytes")
                if time.monotonic() - started > deadline_s:
                    raise StorageError(f"{url}: download took longer than its deadline of {deadline_s:g}s")
            if total is not None and progress.done != total:
                raise StorageError(f"{url}: got {progress.done} of {total} bytes")
    except urllib.error.HTTPError as e:
        if e.code in (301, 302, 303, 307, 308):
            raise StorageError(f"{url}: more than {MAX_REDIRECTS} redirects") from None
        raise StorageError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise StorageError(f"{url}: unreachable ({reason})") from None
    except (http.client.HTTPException, ValueError) as e:  # a malformed URL or answer
        raise StorageError(f"{url}: {type(e).__name__}: {e}") from None


def _download_s3(uri: str, part: pathlib.Path, limits: Limits) -> None:
    loc = locations.parse(uri)
    client = s3.client()
    with s3.errors(uri):
        total = client.head_object(Bucket=loc.bucket, Key=loc.key)["ContentLength"]
        if total > limits.max_bytes:
            raise StorageError(f"{uri}: {total} bytes is more than the limit of {limits.max_bytes}")
        client.download_file(loc.bucket, loc.key, str(part), Callback=_Progress(uri, total))


def _fetch_mlflow(uri: str, dest_dir: pathlib.Path) -> pathlib.Path:
    try:
        import mlflow.artifacts  # noqa: PLC0415 - heavy, and only this scheme needs it
        import mlflow.exceptions  # noqa: PLC0415
    except ImportError as e:
        raise StorageError(f"{uri}: MLflow URIs need the mlflow package ({e})") from e
    target = pathlib.Path(tempfile.mkdtemp(prefix="mlflow-", dir=dest_dir))
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target))
    except mlflow.exceptions.MlflowException as e:
        shutil.rmtree(target, ignore_errors=True)
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StorageError(f"{uri}: {first_line}") from None
    except Exception as e:  # the tracking client raises plain connection errors too
        shutil.rmtree(target, ignore_errors=True)
        raise StorageError(f"{uri}: MLflow download failed ({type(e).__name__}: {e})") from None
    local_path = pathlib.Path(local)
    if local_path.is_file():
        return local_path
    return find_model_file(local_path, uri)
