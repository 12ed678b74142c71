from __future__ import annotations

import hashlib
import http.server
import pathlib
import threading
from collections.abc import Iterator

import pytest

from modelrollout import storage
from modelrollout.storage import fetching


@pytest.fixture
def model(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "src" / "model.onnx"
    path.parent.mkdir()
    path.write_bytes(bytes(range(256)) * 64)
    return path


def test_file_fetch_verifies_size_and_sha(model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    got = storage.fetch(model.as_uri(), tmp_path / "d", sha256=digest, size=model.stat().st_size)
    assert got.read_bytes() == model.read_bytes()
    with pytest.raises(storage.StorageError, match="size 16384 bytes, expected 99"):
        storage.fetch(model.as_uri(), tmp_path / "e", size=99)
    assert not (tmp_path / "e" / "model.onnx").exists()


def test_pvc_uri_maps_to_the_mount_root(model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    root = tmp_path / "mnt"
    (root / "claim" / "m").mkdir(parents=True)
    (root / "claim" / "m" / "model.onnx").write_bytes(b"abc")
    got = storage.fetch("pvc://claim/m/model.onnx", tmp_path / "d", pvc_mount_root=root)
    assert got.read_bytes() == b"abc"
    with pytest.raises(storage.StorageError, match="'..'"):
        storage.fetch("pvc://claim/../x.onnx", tmp_path / "d", pvc_mount_root=root)


def test_ir_brings_its_weights(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "ir"
    src.mkdir()
    (src / "model.xml").write_text("<net/>")
    with pytest.raises(storage.StorageError, match="model.bin are missing"):
        storage.fetch((src / "model.xml").as_uri(), tmp_path / "d")
    (src / "model.bin").write_bytes(b"w")
    got = storage.fetch((src / "model.xml").as_uri(), tmp_path / "d")
    assert got.with_suffix(".bin").read_bytes() == b"w"


@pytest.fixture
def http_root(tmp_path: pathlib.Path) -> Iterator[tuple[str, pathlib.Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, directory=str(root), **k)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_http_fetch(http_root: tuple[str, pathlib.Path], model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    url, root = http_root
    (root / "model.onnx").write_bytes(model.read_bytes())
    assert storage.fetch(f"{url}/model.onnx", tmp_path / "d").read_bytes() == model.read_bytes()
    with pytest.raises(storage.StorageError, match="HTTP 404"):
        storage.fetch(f"{url}/missing.onnx", tmp_path / "d")
    assert not list((tmp_path / "d").glob("*.part"))


def test_directory_upload_is_atomic_and_replaces(model: pathlib.Path, tmp_path: pathlib.Path) -> None:
    store = tmp_path / "store"
    uri = storage.upload(model, store.as_uri(), "ns/m/1/onnxruntime-int8-dynamic")
    assert uri == store.as_uri() + "/ns/m/1/onnxruntime-int8-dynamic/model.onnx"
    model.write_bytes(b"new")
    storage.upload(model, store.as_uri(), "ns/m/1/onnxruntime-int8-dynamic")
    target = store / "ns/m/1/onnxruntime-int8-dynamic"
    assert (target / "model.onnx").read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["onnxruntime-int8-dynamic"]


def test_upload_refuses_http_store(model: pathlib.Path) -> None:
    with pytest.raises(storage.StorageError, match="use file://, pvc:// or s3://"):
        storage.upload(model, "http://example.invalid/x", "k")


@pytest.mark.parametrize(
    ("uri", "message"),
    [("models:/only-name", "models:/<name>/<version>"), ("s3:///key", "no bucket"),
     ("file://host/x", "names a host"), ("", "empty URI")],
)  # fmt: skip
def test_bad_uris(uri: str, message: str, tmp_path: pathlib.Path) -> None:
    with pytest.raises(storage.StorageError, match=message):
        storage.fetch(uri, tmp_path)


def test_find_model_file_refuses_ambiguity(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.onnx").write_bytes(b"")
    (tmp_path / "b.onnx").write_bytes(b"")
    with pytest.raises(storage.StorageError, match="several model files"):
        fetching.find_model_file(tmp_path, "here")
