"""The one error storage raises, and the redaction every storage message goes through.

A URI may carry credentials: `https://user:password@host/...` or a pre-signed URL's
`?X-Amz-Signature=...`. Storage messages reach the optimization report, the resource's
status and Events, and logs; none of them may repeat a secret, so StorageError redacts
its own message and every log line that names a URI passes it through `redact`.
"""

from __future__ import annotations

import re
from typing import Final

REDACTED: Final = "***"
# scheme://user:password@host -> scheme://***@host (a user name alone is redacted too:
# it is often the token itself, as in https://<token>@host).
_USERINFO: Final = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@\s]+@")
# Query parameters that authenticate: AWS/GCS/Azure signed URLs and the usual token names.
_SECRET_PARAM: Final = re.compile(
    r"(?P<key>[?&;](?:[\w.-]*(?:signature|credential|token|secret|password|passwd|auth|apikey|api_key|"
    r"access_key|key)[\w.-]*|sig)=)[^&#\s'\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` with URI credentials (user info, signing query parameters) replaced by ***."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    return _SECRET_PARAM.sub(lambda m: f"{m['key']}{REDACTED}", text)


class StorageError(Exception):
    """A model or artifact could not be fetched or stored; the message is redacted."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))
