"""Upload an artifact to the artifact store, atomically: nothing half-written.

A directory store (file://, pvc://) receives the files in a hidden temporary directory
that is renamed into place once complete. An S3 store receives the model's companion
files first and the model file (the one the server loads) last, each object appearing
only when whole; a failure removes what was written.
"""

from __future__ import annotations

import logging
import pathlib
import shutil
import tempfile

from modelrollout.storage import fetching, locations, s3
from modelrollout.storage.errors import StorageError

log = logging.getLogger(__name__)


def upload(
    local_path_or_dir: pathlib.Path,
    store_uri: str,
    key: str,
    *,
    pvc_mount_root: pathlib.Path | None = None,
) -> str:
    """Upload a model file (an IR `.xml` with its `.bin`) or a directory under `key`.

    Returns the full URI of the model file in the store, the URI a server loads.
    """
    files, main = _collect(local_path_or_dir)
    loc = locations.parse(store_uri, pvc_mount_root=pvc_mount_root)
    if loc.scheme in ("file", "pvc"):
        assert loc.path is not None
        _upload_dir(files, loc.path, key)
    elif loc.scheme == "s3":
        _upload_s3(files, main, loc, key)
    else:
        raise StorageError(f"artifact store {store_uri!r}: use file://, pvc:// or s3://")
    return locations.join(store_uri, key, main.name)


def _collect(src: pathlib.Path) -> tuple[list[pathlib.Path], pathlib.Path]:
    if src.is_dir():
        main = fetching.find_model_file(src, str(src))
        files = sorted(p for p in src.iterdir() if p.is_file())
        return files, main
    if not src.is_file():
        raise StorageError(f"{src}: nothing to upload")
    files = [src]
    if src.suffix == ".xml":
        weights = src.with_suffix(".bin")
        if not weights.is_file():
            raise StorageError(f"{src}: OpenVINO IR weights {weights.name} are missing")
        files.append(weights)
    return files, src


def _upload_dir(files: list[pathlib.Path], root: pathlib.Path, key: str) -> None:
    final = root.joinpath(*[p for p in key.split("/") if p])
    if ".." in final.relative_to(root).parts:
        raise StorageError(f"artifact key {key!r} must not contain '..'")
    _stays_under(final.parent, root, key)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    except OSError as e:
        raise StorageError(f"artifact store {root}: cannot write ({e.strerror})") from e
    try:
        for f in files:
            shutil.copyfile(f, tmp / f.name)
        if final.exists():
            # Replace an earlier upload of the same key in two renames; a reader sees the
            # old artifact or the new one, never a mix.
            old = pathlib.Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            final.replace(old / final.name)
            tmp.replace(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.replace(final)
    except OSError as e:
        raise StorageError(f"artifact store {root}: upload failed ({e.strerror or e})") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _stays_under(directory: pathlib.Path, root: pathlib.Path, key: str) -> None:
    """Refuse a key whose existing part leads, through a symlink, out of the store's root."""
    existing = directory
    while not existing.exists() and existing != root:
        existing = existing.parent
    if not existing.resolve().is_relative_to(root.resolve()):
        raise StorageError(f"artifact key {key!r} leads outside the store {root} (through a symlink)")


def _upload_s3(files: list[pathlib.Path], main: pathlib.Path, loc: locations.Location, key: str) -> None:
    client = s3.client()
    prefix = "/".join(p for p in [loc.key.strip("/"), key.strip("/")] if p)
    ordered = [f for f in files if f != main] + [main]
    written: list[str] = []
    try:
        with s3.errors(loc.uri):
            for f in ordered:
                object_key = f"{prefix}/{f.name}"
                log.info("uploading %s to s3://%s/%s", f.name, loc.bucket, object_key)
                client.upload_file(str(f), loc.bucket, object_key)
                written.append(object_key)
    except StorageError:
        for object_key in written:
            try:
                client.delete_object(Bucket=loc.bucket, Key=object_key)
            except Exception:  # best effort: the original error is the one to report
                log.warning("could not remove partial upload s3://%s/%s", loc.bucket, object_key)
        raise
