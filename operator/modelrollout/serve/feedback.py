"""Pending predictions that a client may judge later: bounded in count and in time.

Pure: the clock is passed in, so tests control time. Every id is consumed at most once.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Sequence

Label = int | str


@dataclasses.dataclass(frozen=True, slots=True)
class Pending:
    """What the server predicted for one response, and until when it may be judged."""

    labels: tuple[Label, ...]
    expires_at: float


class FeedbackError(ValueError):
    """A feedback body that cannot be judged; the message names the field."""


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

    inference_id: str
    correct: bool | None = None
    labels: tuple[Label, ...] | None = None


def parse(body: object) -> Feedback:
    """Validate `{"id", "correct": bool}` or `{"id", "label": <label or list of labels>}`."""
    if not isinstance(body, dict):
        raise FeedbackError("feedback body must be a JSON object")
    inference_id = body.get("id")
    if not isinstance(inference_id, str) or not inference_id:
        raise FeedbackError("feedback needs 'id', the id of an earlier infer response")
    has_correct, has_label = "correct" in body, "label" in body
    if has_correct == has_label:
        raise FeedbackError("feedback needs exactly one of 'correct' or 'label'")
    if has_correct:
        correct = body["correct"]
        if not isinstance(correct, bool):
            raise FeedbackError("'correct' must be true or false")
        return Feedback(inference_id, correct=correct)
    label = body["label"]
    labels = label if isinstance(label, list) else [label]
    for value in labels:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise FeedbackError("'label' values must be integers or strings")
    return Feedback(inference_id, labels=tuple(labels))


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
