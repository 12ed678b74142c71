"""`modelrollout operator`: the peering lifetime reaches Kopf, and a bad one is refused by name."""

from __future__ import annotations

from typing import Any

import kopf
import pytest

from modelrollout.handlers import command, registration


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What `kopf.run` was called with; the operator itself does not start."""
    calls: dict[str, Any] = {}
    monkeypatch.setattr(kopf, "run", lambda **kwargs: calls.update(kwargs))
    monkeypatch.setattr(registration, "memo_for", lambda *args: kopf.Memo())
    return calls


def run(*args: str) -> int:
    return command.main(["--metrics-port", "0", "--liveness-port", "0", *args])


def test_the_default_lifetime_lets_a_standby_take_over_within_30_seconds(ran: dict[str, Any]) -> None:
    assert run("--peering", "modelrollout") == 0
    settings: kopf.OperatorSettings = ran["settings"]
    assert ran["peering_name"] == "modelrollout" and ran["standalone"] is False
    assert settings.peering.lifetime == command.DEFAULT_PEERING_LIFETIME <= 30


def test_the_lifetime_flag_reaches_kopf(ran: dict[str, Any]) -> None:
    assert run("--peering", "modelrollout", "--peering-lifetime-seconds", "45") == 0
    assert ran["settings"].peering.lifetime == 45


@pytest.mark.parametrize(("value", "said"), [("5", "under 12 seconds"), ("1.5", "not a whole number")])
def test_a_bad_lifetime_is_refused_naming_the_flag(
    ran: dict[str, Any], capsys: pytest.CaptureFixture[str], value: str, said: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        run("--peering-lifetime-seconds", value)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--peering-lifetime-seconds" in err and said in err, err
    assert not ran, "the operator started despite the bad flag"
