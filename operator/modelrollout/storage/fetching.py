"""Fetch a model from its URI into a local directory, verified.

Schemes: file://, pvc://<claim>/<path>, http(s)://, s3://<bucket>/<key> (boto3; endpoint
and credentials from the environment, where a Secret is mounted as env vars) and MLflow
registry URIs models:/<name>/<version> and models:/<name>@<alias> (tracking server from
MLFLOW_TRACKING_URI). An OpenVINO IR `.xml` brings its `.bin` along.
"""

from __future__ import annotations

import hashlib
import logging
import pathlib
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Final

from modelrollout.storage import locations, s3
from modelrollout.storage.errors import StorageError

log = logging.getLogger(__name__)

MODEL_SUFFIXES: Final = (".onnx", ".xml")
_CHUNK: Final = 1 << 20
_HTTP_TIMEOUT_S: Final = 60.0


def fetch(
    uri: str,
    dest_dir: pathlib.Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    pvc_mount_root: pathlib.Path | None = None,
) -> pathlib.Path:
    """Fetch `uri` into `dest_dir` and return the local path of the model file.

    `sha256` and `size` check the model file (for an IR, its `.xml`); on a mismatch the
    download is removed and StorageError says what differed.
    """
    loc = locations.parse(uri, pvc_mount_root=pvc_mount_root)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if loc.scheme in ("file", "pvc"):
        assert loc.path is not None
        path = _copy_local(loc.path, dest_dir, uri)
    elif loc.scheme in ("http", "https"):
        path = _fetch_with_sibling(uri, dest_dir, _download_http)
    elif loc.scheme == "s3":
        path = _fetch_with_sibling(uri, dest_dir, _download_s3)
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


def find_model_file(directory: pathlib.Path, what: str) -> pathlib.Path:
    """The one model file (.onnx or .xml) under `directory`."""
    found = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in MODEL_SUFFIXES)
    if not found:
        raise StorageError(f"{what} holds no .onnx or .xml model file")
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(directory)) for p in found[:5])
        raise StorageError(f"{what} holds several model files ({names}); point at one")
    return found[0]


def _copy_local(src: pathlib.Path, dest_dir: pathlib.Path, uri: str) -> pathlib.Path:
    if not src.exists():
        raise StorageError(f"{uri}: no such file or directory")
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
        _atomic_copy(weights, target.with_suffix(".bin"))
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
                log.info("downloading %s: %d%% of %d bytes", self.what, pct, self.total)
                self.next_pct = (pct // 10 + 1) * 10


def _download_http(url: str, part: pathlib.Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=_HTTP_TIMEOUT_S) as resp, part.open("wb") as f:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            progress = _Progress(url, total)
            while chunk := resp.read(_CHUNK):
                f.write(chunk)
                progress(len(chunk))
            if total is not None and progress.done != total:
                raise StorageError(f"{url}: got {progress.done} of {total} bytes")
    except urllib.error.HTTPError as e:
        raise StorageError(f"{url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise StorageError(f"{url}: unreachable ({reason})") from e


def _download_s3(uri: str, part: pathlib.Path) -> None:
    loc = locations.parse(uri)
    client = s3.client()
    with s3.errors(uri):
        total = client.head_object(Bucket=loc.bucket, Key=loc.key)["ContentLength"]
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
        raise StorageError(f"{uri}: {first_line}") from e
    except Exception as e:  # the tracking client raises plain connection errors too
        shutil.rmtree(target, ignore_errors=True)
        raise StorageError(f"{uri}: MLflow download failed ({type(e).__name__}: {e})") from e
    local_path = pathlib.Path(local)
    if local_path.is_file():
        return local_path
    return find_model_file(local_path, uri)
