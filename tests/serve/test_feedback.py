"""The pending-id store and the feedback verdicts (pure, clock injected)."""

from __future__ import annotations

import pytest

from modelrollout.serve import feedback


def test_an_id_is_judged_once_within_its_window() -> None:
    store = feedback.PendingStore(window_seconds=10, max_pending=5)
    store.put("a", [2], now=100.0)
    assert store.get("a", now=109.9) == feedback.Pending((2,), 110.0)
    store.discard("a")
    assert store.get("a", now=109.9) is None


def test_ids_expire_after_the_window() -> None:
    store = feedback.PendingStore(window_seconds=10, max_pending=5)
    store.put("old", [1], now=0.0)
    store.put("new", [1], now=5.0)
    assert store.get("old", now=10.0) is None
    assert store.get("new", now=10.0) is not None
    assert len(store) == 1


def test_memory_is_bounded_by_dropping_the_oldest() -> None:
    store = feedback.PendingStore(window_seconds=60, max_pending=3)
    for i in range(5):
        store.put(str(i), [i], now=float(i))
    assert len(store) == 3
    assert store.evicted == 2
    assert store.get("0", now=5.0) is None
    assert store.get("1", now=5.0) is None
    assert store.get("4", now=5.0) == feedback.Pending((4,), 64.0)


def test_a_repeated_id_keeps_the_latest_prediction() -> None:
    store = feedback.PendingStore(window_seconds=60, max_pending=3)
    store.put("a", [1], now=0.0)
    store.put("a", [2], now=1.0)
    assert len(store) == 1
    pending = store.get("a", now=2.0)
    assert pending is not None
    assert pending.labels == (2,)


def test_zero_pending_turns_feedback_off() -> None:
    store = feedback.PendingStore(window_seconds=60, max_pending=0)
    store.put("a", [1], now=0.0)
    assert store.get("a", now=0.0) is None


@pytest.mark.parametrize(("window", "size"), [(0, 1), (-1, 1), (1, -1)])
def test_bad_limits_are_refused(window: float, size: int) -> None:
    with pytest.raises(ValueError, match=r"window_seconds|max_pending"):
        feedback.PendingStore(window, size)


@pytest.mark.parametrize(
    ("body", "labels", "verdicts"),
    [
        ({"id": "a", "correct": True}, (3,), [True]),
        ({"id": "a", "correct": False}, (3, 4), [False, False]),
        ({"id": "a", "label": 3}, (3,), [True]),
        ({"id": "a", "label": 2}, (3,), [False]),
        ({"id": "a", "label": "3"}, (3,), [True]),  # labels compare as text
        ({"id": "a", "label": "cat"}, ("cat",), [True]),
        ({"id": "a", "label": [1, 0]}, (1, 1), [True, False]),
    ],
)
def test_judge(body: dict[str, object], labels: tuple[feedback.Label, ...], verdicts: list[bool]) -> None:
    pending = feedback.Pending(labels, 0.0)
    assert feedback.judge(pending, feedback.parse(body)) == verdicts


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"correct": True}, "'id'"),
        ({"id": 5, "correct": True}, "'id'"),
        ({"id": "a"}, "exactly one"),
        ({"id": "a", "correct": True, "label": 1}, "exactly one"),
        ({"id": "a", "correct": "yes"}, "'correct'"),
        ({"id": "a", "label": 1.5}, "'label'"),
        ({"id": "a", "label": True}, "'label'"),
        ({"id": "a", "label": [1, None]}, "'label'"),
    ],
)
def test_parse_names_the_bad_field(body: object, message: str) -> None:
    with pytest.raises(feedback.FeedbackError, match=message):
        feedback.parse(body)


def test_a_label_count_mismatch_is_refused() -> None:
    with pytest.raises(feedback.FeedbackError, match="2 row"):
        feedback.judge(feedback.Pending((1, 2), 0.0), feedback.parse({"id": "a", "label": 1}))


def test_a_label_needs_a_labelled_prediction() -> None:
    with pytest.raises(feedback.FeedbackError, match="post 'correct'"):
        feedback.judge(feedback.Pending((), 0.0), feedback.parse({"id": "a", "label": 1}))


KEY = b"k" * 32


def test_a_token_is_verified_and_counted_by_any_pod_with_the_key() -> None:
    answering = feedback.Tokens(KEY, window_seconds=60)
    token = answering.issue("minilm", "8", "canary", [3, "x"], nonce="abc", now=100.0)
    receiving = feedback.Tokens(KEY, window_seconds=60)  # another pod, same key
    claim = receiving.verify(token, now=159.0)
    assert claim == feedback.Claim("minilm", "8", "canary", (3, "x"), 160.0, "abc")
    parsed = feedback.parse({"token": token, "label": [3, "y"]})
    assert parsed.token and parsed.inference_id == token
    assert feedback.judge(claim.pending(), parsed) == [True, False]


def test_a_token_expires_with_the_window() -> None:
    tokens = feedback.Tokens(KEY, window_seconds=60)
    token = tokens.issue("minilm", "8", "canary", [1], nonce="a", now=0.0)
    with pytest.raises(feedback.FeedbackError, match="expired"):
        tokens.verify(token, now=60.0)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace(
            t.split(".")[0], feedback._b64(b'{"e":1e12,"l":[1],"m":"minilm","n":"a","r":"stable","v":"7"}')
        ),
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "no-dot-here",
        lambda t: "a.b.c",
        lambda t: "%%%.%%%",
    ],
    ids=["forged-claim", "bad-signature", "no-token", "three-parts", "not-base64"],
)
def test_a_forged_or_broken_token_is_refused(tamper: object) -> None:
    tokens = feedback.Tokens(KEY, window_seconds=60)
    token = tokens.issue("minilm", "8", "canary", [1], nonce="a", now=0.0)
    with pytest.raises(feedback.FeedbackError, match="token"):
        tokens.verify(tamper(token), now=1.0)  # type: ignore[operator]


def test_another_key_is_another_model() -> None:
    token = feedback.Tokens(KEY, window_seconds=60).issue("minilm", "8", "canary", [1], nonce="a", now=0.0)
    with pytest.raises(feedback.FeedbackError, match="signature"):
        feedback.Tokens(b"o" * 32, window_seconds=60).verify(token, now=1.0)


def test_tokens_need_a_real_key() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        feedback.Tokens(b"short", window_seconds=60)


def test_feedback_body_with_a_bad_token_field() -> None:
    with pytest.raises(feedback.FeedbackError, match="token"):
        feedback.parse({"token": 5, "correct": True})
