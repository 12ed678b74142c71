"""Storage stays inside its bounds: confined local paths, bounded downloads, no secrets in messages."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import http.server
import logging
import pathlib
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import ClassVar

import pytest

from modelrollout import storage
from modelrollout.storage import fetching, locations

SECRET = "s3cr3t-pa55"


@pytest.fixture
def claim_root(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "mnt"
    (root / "claim" / "m").mkdir(parents=True)
    (root / "claim" / "m" / "model.onnx").write_bytes(b"inside")
    (root / "other").mkdir()
    (root / "other" / "model.onnx").write_bytes(b"another claim")
    (tmp_path / "outside.onnx").write_bytes(b"outside")
    return root


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("pvc://claim/../other/model.onnx", "'..'"),
        ("pvc://claim/m/%2e%2e/%2e%2e/other/model.onnx", "'..'"),
        ("pvc://../other/model.onnx", "not a claim name"),
        ("pvc://%2e%2e/other/model.onnx", "not a claim name"),
        ("pvc://cl..aim/m/model.onnx", "not a claim name"),
        ("pvc://user:pw@claim/m/model.onnx", "not a claim name"),
        ("pvc://claim/m/model.onnx%00.txt", "NUL"),
        ("file:///tmp/../etc/passwd", "'..'"),
        ("file:relative/model.onnx", "absolute path"),
    ],
)
def test_a_local_uri_cannot_name_its_way_out(
    uri: str, message: str, claim_root: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with pytest.raises(storage.StorageError, match=message):
        storage.fetch(uri, tmp_path / "d", pvc_mount_root=claim_root)
    assert not (tmp_path / "d").exists() or not list((tmp_path / "d").iterdir())


def test_a_symlink_out_of_the_claim_is_refused(claim_root: pathlib.Path, tmp_path: pathlib.Path) -> None:
    (claim_root / "claim" / "link.onnx").symlink_to(tmp_path / "outside.onnx")
    (claim_root / "claim" / "other-claim").symlink_to(claim_root / "other")
    (claim_root / "claim" / "inner.onnx").symlink_to(claim_root / "claim" / "m" / "model.onnx")
    for uri in ("pvc://claim/link.onnx", "pvc://claim/other-claim/model.onnx"):
        with pytest.raises(storage.StorageError, match="resolves outside its root"):
            storage.fetch(uri, tmp_path / "d", pvc_mount_root=claim_root)
    # A symlink that stays inside the claim is fine.
    got = storage.fetch("pvc://claim/inner.onnx", tmp_path / "d", pvc_mount_root=claim_root)
    assert got.read_bytes() == b"inside"


def test_a_directory_with_a_symlink_out_is_refused(claim_root: pathlib.Path, tmp_path: pathlib.Path) -> None:
    (claim_root / "claim" / "m" / "weights.bin").symlink_to(tmp_path / "outside.onnx")
    with pytest.raises(storage.StorageError, match="resolves outside its root"):
        storage.fetch("pvc://claim/m", tmp_path / "d", pvc_mount_root=claim_root)


def test_an_ir_weights_symlink_out_is_refused(claim_root: pathlib.Path, tmp_path: pathlib.Path) -> None:
    (claim_root / "claim" / "model.xml").write_text("<net/>")
    (claim_root / "claim" / "model.bin").symlink_to(tmp_path / "outside.onnx")
    with pytest.raises(storage.StorageError, match="resolves outside its root"):
        storage.fetch("pvc://claim/model.xml", tmp_path / "d", pvc_mount_root=claim_root)


def test_file_roots_confine_file_uris(
    claim_root: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed = claim_root / "claim"
    monkeypatch.setenv("MODELROLLOUT_FILE_ROOTS", str(allowed))
    inside = allowed / "m" / "model.onnx"
    assert storage.fetch(inside.as_uri(), tmp_path / "d").read_bytes() == b"inside"
    with pytest.raises(storage.StorageError, match="outside the allowed file roots"):
        storage.fetch((tmp_path / "outside.onnx").as_uri(), tmp_path / "d")
    (allowed / "escape.onnx").symlink_to(tmp_path / "outside.onnx")
    with pytest.raises(storage.StorageError, match="resolves outside its root"):
        storage.local_path((allowed / "escape.onnx").as_uri())
    monkeypatch.delenv("MODELROLLOUT_FILE_ROOTS")
    # Without roots, any absolute path (no '..') is a file:// URI's to name.
    assert storage.local_path((tmp_path / "outside.onnx").as_uri()) == (tmp_path / "outside.onnx").resolve()


def test_an_upload_key_cannot_follow_a_symlink_out(tmp_path: pathlib.Path) -> None:
    store = tmp_path / "store"
    (store / "ns").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (store / "ns" / "m").symlink_to(tmp_path / "elsewhere")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"m")
    with pytest.raises(storage.StorageError, match="leads outside the store"):
        storage.upload(model, store.as_uri(), "ns/m/1/onnxruntime-fp32")
    assert list((tmp_path / "elsewhere").iterdir()) == []


# --- http(s) -----------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /model.onnx (Basic auth when asked), /big (lies small, sends more), /huge
    (says huge), /slow (trickles), /loop/N (redirects on and on), /hop (redirects once)."""

    protocol_version = "HTTP/1.1"
    body = b"x" * 4096
    seen_auth: ClassVar[list[str | None]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        _Handler.seen_auth.append(self.headers.get("Authorization"))
        if self.path.startswith("/model.onnx"):
            self._send(200, self.body)
        elif self.path == "/private.onnx":
            expected = "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
            if self.headers.get("Authorization") == expected:
                self._send(200, self.body)
            else:
                self._send(401, b"")
        elif self.path == "/big":
            self._send(200, b"y" * 10_000)
        elif self.path == "/huge":
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 40))
            self.end_headers()
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"z")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        elif self.path.startswith("/loop/"):
            self.send_response(302)
            self.send_header("Location", f"/loop/{int(self.path.rsplit('/', 1)[1]) + 1}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/hop":
            self.send_response(302)
            self.send_header("Location", "/model.onnx")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"")

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def web() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.seen_auth = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


SMALL = fetching.Limits(max_bytes=5000, deadline=datetime.timedelta(seconds=1))


def test_a_download_bigger_than_the_cap_is_refused(web: str, tmp_path: pathlib.Path) -> None:
    with pytest.raises(storage.StorageError, match=r"1099511627776 bytes is more than the limit of 5000"):
        storage.fetch(f"{web}/huge", tmp_path / "d", limits=SMALL)
    # Content-Length within the cap is not trusted: the bytes streamed are counted.
    big = fetching.Limits(max_bytes=5000)
    with pytest.raises(storage.StorageError, match="more than the limit of 5000"):
        storage.fetch(f"{web}/big", tmp_path / "d", limits=big)
    assert list((tmp_path / "d").iterdir()) == []


def test_a_trickling_download_meets_its_deadline(web: str, tmp_path: pathlib.Path) -> None:
    started = time.monotonic()
    with pytest.raises(storage.StorageError, match="longer than its deadline of 1s"):
        storage.fetch(f"{web}/slow", tmp_path / "d", limits=dataclasses.replace(SMALL, max_bytes=1 << 20))
    assert time.monotonic() - started < 3.0
    assert list((tmp_path / "d").iterdir()) == []


def test_redirects_are_limited(web: str, tmp_path: pathlib.Path) -> None:
    assert storage.fetch(f"{web}/hop", tmp_path / "d").name == "hop"
    with pytest.raises(storage.StorageError, match=f"more than {fetching.MAX_REDIRECTS} redirects"):
        storage.fetch(f"{web}/loop/0", tmp_path / "e")
    assert len(_Handler.seen_auth) == 2 + 1 + fetching.MAX_REDIRECTS


def test_https_never_redirects_down_to_http() -> None:
    handler = fetching._Redirects()
    request = urllib.request.Request("https://models.example/m.onnx")
    with pytest.raises(storage.StorageError, match="refused a redirect from https to http://"):
        handler.redirect_request(request, None, 302, "Found", {}, "http://models.example/m.onnx")
    assert handler.redirect_request(request, None, 302, "Found", {}, "https://cdn.example/m.onnx") is not None


def test_credentials_in_a_url_work_and_never_show(
    web: str, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    host = web.removeprefix("http://")
    # Basic auth from the user info reaches the server...
    got = storage.fetch(f"http://alice:{SECRET}@{host}/private.onnx", tmp_path / "d")
    assert got.read_bytes() == _Handler.body
    # ...and no failure says the password, nor a pre-signed URL's signature.
    failures = [
        f"http://alice:{SECRET}@{host}/missing.onnx",
        f"http://alice:{SECRET}@127.0.0.1:1/model.onnx",
        f"http://{host}/missing.onnx?X-Amz-Credential=AKIA/x&X-Amz-Signature={SECRET}&X-Amz-Security-Token={SECRET}",
        f"http://alice:{SECRET}@{host}:notaport/model.onnx",
    ]
    messages = []
    for uri in failures:
        with pytest.raises(storage.StorageError) as caught:
            storage.fetch(uri, tmp_path / "e")
        messages.append(str(caught.value))
    big = fetching.Limits(max_bytes=1)
    with pytest.raises(storage.StorageError) as caught:
        storage.fetch(f"http://alice:{SECRET}@{host}/model.onnx", tmp_path / "e", limits=big)
    messages.append(str(caught.value))
    assert all(SECRET not in m for m in messages), messages
    assert all("***" in m for m in messages[:4]), messages
    assert SECRET not in caplog.text


def test_redact_covers_the_usual_forms() -> None:
    text = storage.redact(
        f"https://u:{SECRET}@h/a?X-Amz-Signature={SECRET}&keep=1 s3://{SECRET}@b/k https://h/b?sig={SECRET}&token={SECRET}"
    )
    assert SECRET not in text
    assert "keep=1" in text and "https://***@h/a" in text


def test_a_remote_sha256_mismatch_leaves_nothing(web: str, tmp_path: pathlib.Path) -> None:
    with pytest.raises(storage.StorageError, match="does not match expected"):
        storage.fetch(f"{web}/model.onnx", tmp_path / "d", sha256="0" * 64)
    assert list((tmp_path / "d").iterdir()) == []


def test_parse_keeps_claim_roots() -> None:
    loc = locations.parse("pvc://claim/a/b.onnx", pvc_mount_root=pathlib.Path("/mnt/pvc"))
    assert loc.roots == (pathlib.Path("/mnt/pvc/claim"),)
    assert loc.path == pathlib.Path("/mnt/pvc/claim/a/b.onnx")
