"""Pending predictions that a client may judge later: bounded in count and in time.

Pure: the clock is passed in, so tests control time. Every id is consumed at most once.
Signed tokens (`Tokens`) let any pod of the model judge a prediction another pod made.
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import hashlib
import hmac
import json
from collections.abc import Sequence

Label = int | str


@dataclasses.dataclass(frozen=True, slots=True)
class Pending:
    """What the server predicted for one response, and until when it may be judged."""

    labels: tuple[Label, ...]
    expires_at: float


class FeedbackError(ValueError):
    """A feedback body that cannot be judged; the message names the field."""


class ForgedToken(FeedbackError):
    """A token whose signature no key here makes: forged, altered, or another model's."""


class ExpiredToken(FeedbackError):
    """A genuine token past its feedback window."""


class PendingStore:
    """Ids of recent responses with their predicted labels.

    Insertion order is expiry order (one window for all), so expired ids and, past
    `max_pending`, the oldest ids fall off the front in O(1) each.
    """

    def __init__(self, window_seconds: float, max_pending: int) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        if max_pending < 0:
            raise ValueError("max_pending must not be negative")
        self.window_seconds = window_seconds
        self.max_pending = max_pending
        self._items: collections.OrderedDict[str, Pending] = collections.OrderedDict()
        self.evicted = 0  # dropped for room before they expired

    def __len__(self) -> int:
        return len(self._items)

    def put(self, inference_id: str, labels: Sequence[Label], now: float) -> None:
        if self.max_pending == 0:
            return
        self._expire(now)
        self._items.pop(inference_id, None)
        while len(self._items) >= self.max_pending:
            self._items.popitem(last=False)
            self.evicted += 1
        self._items[inference_id] = Pending(tuple(labels), now + self.window_seconds)

    def get(self, inference_id: str, now: float) -> Pending | None:
        """The pending prediction for `inference_id`; None if unknown or expired."""
        self._expire(now)
        return self._items.get(inference_id)

    def discard(self, inference_id: str) -> None:
        """Consume an id once its feedback was counted."""
        self._items.pop(inference_id, None)

    def _expire(self, now: float) -> None:
        items = self._items
        while items:
            first = next(iter(items.values()))
            if first.expires_at > now:
                break
            items.popitem(last=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Feedback:
    """A parsed feedback body: exactly one of `correct` and `labels` is set."""

    inference_id: str  # the id, or the token when the body carried one
    correct: bool | None = None
    labels: tuple[Label, ...] | None = None
    token: bool = False  # `inference_id` is a signed token (see `Tokens`)


def parse(body: object) -> Feedback:
    """Validate `{"id" or "token", "correct": bool}` or `{"id" or "token", "label": <label or labels>}`."""
    if not isinstance(body, dict):
        raise FeedbackError("feedback body must be a JSON object")
    token = body.get("token")
    if token is not None and (not isinstance(token, str) or not token):
        raise FeedbackError("'token' must be the feedback token of an earlier infer response")
    inference_id = token if token is not None else body.get("id")
    if not isinstance(inference_id, str) or not inference_id:
        raise FeedbackError("feedback needs 'id' (or 'token'), from an earlier infer response")
    has_correct, has_label = "correct" in body, "label" in body
    if has_correct == has_label:
        raise FeedbackError("feedback needs exactly one of 'correct' or 'label'")
    if has_correct:
        correct = body["correct"]
        if not isinstance(correct, bool):
            raise FeedbackError("'correct' must be true or false")
        return Feedback(inference_id, correct=correct, token=token is not None)
    label = body["label"]
    labels = label if isinstance(label, list) else [label]
    for value in labels:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise FeedbackError("'label' values must be integers or strings")
    return Feedback(inference_id, labels=tuple(labels), token=token is not None)


def judge(pending: Pending, feedback: Feedback) -> list[bool]:
    """One verdict per predicted row.

    A label is a scalar for a one-row prediction, or a list with one label per row;
    `correct` judges every row of the prediction alike.
    """
    if feedback.labels is None:
        return [bool(feedback.correct)] * max(1, len(pending.labels))
    if not pending.labels:
        raise FeedbackError("this model's first output gives no label to compare: post 'correct'")
    if len(feedback.labels) != len(pending.labels):
        raise FeedbackError(
            f"'label' has {len(feedback.labels)} value(s) but the prediction had {len(pending.labels)} row(s)"
        )
    # Labels compare as text: JSON gives 3 where a string-labelled model predicted "3".
    return [str(given) == str(predicted) for given, predicted in zip(feedback.labels, pending.labels, strict=True)]


# --- feedback behind a Service -------------------------------------------------------
#
# Behind a Service or an HTTPRoute the feedback for a prediction usually reaches another
# pod than the one that answered, whose pending store has never seen the id. A signed
# token carries what that pod needs instead: the model, the version and role that
# predicted (so the feedback is counted for them, not for the receiving pod), the
# predicted labels and an expiry. Any pod that holds the same key verifies and counts it.


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """What a feedback token vouches for."""

    model: str
    version: str
    role: str
    labels: tuple[Label, ...]
    expires_at: float
    nonce: str  # random, one per token: the replay guard remembers it (`guards.Nonces`)
    inference_id: str = ""  # the answer's id, echoed in the feedback answer

    def pending(self) -> Pending:
        return Pending(self.labels, self.expires_at)


class Tokens:
    """Issue and verify feedback tokens, HMAC-SHA256 over a compact JSON claim.

    Tokens are signed with `key`; they verify with `key` or any of `previous`, so
    during a key rotation the tokens the old key signed stay good until they expire.
    `now` is wall-clock time: the pod that verifies is not the one that issued.
    """

    def __init__(self, key: bytes, window_seconds: float, previous: Sequence[bytes] = ()) -> None:
        for one in (key, *previous):
            if len(one) < 16:
                raise ValueError("a feedback key needs at least 16 bytes")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self._key = key
        self._verifying = (key, *(k for k in previous if k != key))
        self.window_seconds = window_seconds

    @staticmethod
    def _sign(key: bytes, payload: bytes) -> bytes:
        return hmac.new(key, payload, hashlib.sha256).digest()[:16]

    def issue(
        self,
        model: str,
        version: str,
        role: str,
        labels: Sequence[Label],
        nonce: str,
        now: float,
        inference_id: str = "",
    ) -> str:
        claim = {"m": model, "v": version, "r": role, "l": list(labels), "e": round(now + self.window_seconds, 3)}
        claim["n"] = nonce
        if inference_id:
            claim["i"] = inference_id
        payload = json.dumps(claim, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{_b64(self._sign(self._key, payload))}"

    def verify(self, token: str, now: float) -> Claim:
        """The claim of a genuine, unexpired token; FeedbackError otherwise."""
        try:
            payload_text, signature_text = token.split(".")
            payload, signature = _unb64(payload_text), _unb64(signature_text)
        except ValueError:
            raise FeedbackError("'token' is not a feedback token") from None
        # Every key is tried, so the time taken does not tell which one nearly matched.
        genuine = [hmac.compare_digest(signature, self._sign(k, payload)) for k in self._verifying]
        if not any(genuine):
            raise ForgedToken("'token' has a bad signature: not issued by this model's servers, or altered")
        try:
            raw = json.loads(payload)
            labels = tuple(raw["l"])
            if not all(isinstance(v, int | str) and not isinstance(v, bool) for v in labels):
                raise TypeError("labels")
            model, version, role, nonce = (str(raw[k]) for k in "mvrn")
            claim = Claim(model, version, role, labels, float(raw["e"]), nonce, str(raw.get("i", "")))
        except (ValueError, KeyError, TypeError):
            raise FeedbackError("'token' holds no claim") from None
        if claim.expires_at <= now:
            raise ExpiredToken("'token' expired: older than the feedback window")
        return claim


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError(str(error)) from None
