"""The S3 client and its errors, configured from the environment.

boto3 reads AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3), AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION; a Kubernetes Secret reaches the Job as
those env vars. Path-style addressing keeps S3-compatible servers without wildcard DNS
working.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from modelrollout.storage.errors import StorageError


def client() -> Any:
    import boto3  # noqa: PLC0415 - only S3 users pay for it
    import botocore.config  # noqa: PLC0415

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = botocore.config.Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
    )
    return boto3.client("s3", region_name=region, config=config)


@contextlib.contextmanager
def errors(uri: str) -> Iterator[None]:
    """Turn boto errors into a one-line StorageError that names the URI."""
    import boto3.exceptions  # noqa: PLC0415
    import botocore.exceptions as bex  # noqa: PLC0415

    try:
        yield
    except bex.NoCredentialsError as e:
        raise StorageError(f"{uri}: no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)") from e
    except bex.ClientError as e:
        err = e.response.get("Error", {})
        code = err.get("Code", "?")
        if code in ("404", "NoSuchKey", "NoSuchBucket"):
            raise StorageError(f"{uri}: not found ({code})") from e
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise StorageError(f"{uri}: access denied ({code}); check the S3 credentials") from e
        raise StorageError(f"{uri}: S3 error {code}: {err.get('Message', '')}".rstrip(": ")) from e
    except (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ReadTimeoutError) as e:
        raise StorageError(f"{uri}: S3 endpoint unreachable ({e})") from e
    except (bex.BotoCoreError, boto3.exceptions.Boto3Error) as e:
        raise StorageError(f"{uri}: S3 failure ({type(e).__name__}: {e})") from e
