"""S3 against a real versitygw, MLflow against a real `mlflow server`."""

from __future__ import annotations

import hashlib
import pathlib

import boto3
import pytest
from botocore.exceptions import ClientError

from modelrollout import storage
from modelrollout.storage import s3


def test_s3_fetch_and_upload(s3_env: str, tmp_path: pathlib.Path) -> None:
    client = boto3.client("s3")
    client.create_bucket(Bucket="models")
    data = b"onnx-bytes" * 1000
    client.put_object(Bucket="models", Key="m/7/model.onnx", Body=data)
    got = storage.fetch("s3://models/m/7/model.onnx", tmp_path / "d", sha256=hashlib.sha256(data).hexdigest())
    assert got.read_bytes() == data
    with pytest.raises(storage.StorageError, match="not found"):
        storage.fetch("s3://models/m/8/model.onnx", tmp_path / "e")

    ir = tmp_path / "ir"
    ir.mkdir()
    (ir / "model.xml").write_text("<net/>")
    (ir / "model.bin").write_bytes(b"weights")
    uri = storage.upload(ir / "model.xml", "s3://models/optimized", "ns/m/7/openvino-int8-nncf")
    assert uri == "s3://models/optimized/ns/m/7/openvino-int8-nncf/model.xml"
    fetched = storage.fetch(uri, tmp_path / "back")
    assert fetched.with_suffix(".bin").read_bytes() == b"weights"


def test_s3_failed_upload_leaves_nothing(s3_env: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The weights reach the real server, then the model file's upload fails: both are gone."""
    client = boto3.client("s3")
    client.create_bucket(Bucket="partial")
    ir = tmp_path / "ir"
    ir.mkdir()
    (ir / "model.xml").write_text("<net/>")
    (ir / "model.bin").write_bytes(b"weights" * 1000)
    real_upload = client.upload_file
    uploaded: list[str] = []

    def upload_then_fail_on_the_model(filename: str, bucket: str, key: str) -> None:
        if key.endswith(".xml"):
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "injected"}}, "PutObject")
        real_upload(filename, bucket, key)
        uploaded.append(key)

    monkeypatch.setattr(client, "upload_file", upload_then_fail_on_the_model)
    monkeypatch.setattr(s3, "client", lambda: client)
    with pytest.raises(storage.StorageError, match="SlowDown|injected"):
        storage.upload(ir / "model.xml", "s3://partial/store", "minilm/7")
    assert uploaded == ["store/minilm/7/model.bin"]  # something really was written first
    assert client.list_objects_v2(Bucket="partial").get("KeyCount", 0) == 0


def test_s3_upload_to_a_missing_bucket_is_one_clear_error(s3_env: str, tmp_path: pathlib.Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"onnx")
    with pytest.raises(storage.StorageError, match="no-such-bucket"):
        storage.upload(model, "s3://no-such-bucket/x", "k")


@pytest.mark.slow
def test_mlflow_version_and_alias(mlflow_uri: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    mlflow.set_tracking_uri(mlflow_uri)
    model = tmp_path / "m" / "model.onnx"
    model.parent.mkdir()
    model.write_bytes(b"registered-onnx")
    client = MlflowClient(mlflow_uri)
    exp = client.create_experiment("digits")
    run = client.create_run(exp)
    client.log_artifact(run.info.run_id, str(model), "model")
    client.create_registered_model("digits")
    version = client.create_model_version("digits", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.set_registered_model_alias("digits", "champion", version.version)
    by_version = storage.fetch(f"models:/digits/{version.version}", tmp_path / "a")
    by_alias = storage.fetch("models:/digits@champion", tmp_path / "b")
    assert by_version.read_bytes() == by_alias.read_bytes() == b"registered-onnx"
    with pytest.raises(storage.StorageError, match="models:/digits/99"):
        storage.fetch("models:/digits/99", tmp_path / "c")
