"""`modelrollout dashboard` and `kubectl modelrollout dashboard`: flags and refusals."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest
from kubernetes import client

from modelrollout import cli, kubectl_plugin
from modelrollout.dashboard import command


def test_both_commands_offer_the_dashboard(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "dashboard" in capsys.readouterr().out
    args = kubectl_plugin._parser().parse_args(["-n", "ml", "dashboard", "--port", "0", "--allow-actions"])
    assert (args.command, args.namespace, args.port, args.allow_actions) == ("dashboard", "ml", 0, True)


def test_read_only_by_default() -> None:
    args = command.parser().parse_args([])
    assert args.allow_actions is False and args.port == 3100 and args.namespace is None


def test_a_missing_kubeconfig_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert command.main(["--kubeconfig", str(tmp_path / "nope")]) == 1
    assert "cannot load kubeconfig" in capsys.readouterr().err


def test_a_busy_port_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = argparse.Namespace(port=port, allow_actions=False, namespace=None)
        assert command.serve(args, client.ApiClient()) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
