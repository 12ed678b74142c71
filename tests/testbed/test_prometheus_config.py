from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from e2e.testbed import prometheus


def test_config_scrapes_the_file_sd_targets_at_the_interval(tmp_path: Path) -> None:
    config = prometheus.config(tmp_path, interval_s=0.5, rule_files=[tmp_path / "r.yml"])
    assert config["global"]["scrape_interval"] == "500ms"
    assert config["global"]["evaluation_interval"] == "500ms"
    (job,) = config["scrape_configs"]
    assert job["file_sd_configs"][0]["files"] == [str(tmp_path / "*.json")]
    assert config["rule_files"] == [str(tmp_path / "r.yml")]


def test_targets_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "targets.json"
    prometheus.write_targets(path, [prometheus.Target("127.0.0.1:1", {"pod": "a"})])
    prometheus.write_targets(path, [prometheus.Target("127.0.0.1:2", {"pod": "b"})])
    assert json.loads(path.read_text()) == [{"targets": ["127.0.0.1:2"], "labels": {"pod": "b"}}]
    assert [p.name for p in tmp_path.iterdir()] == ["targets.json"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_config(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    prometheus.write_targets(tmp_path / "a.json", [])
    config.write_text(yaml.safe_dump(prometheus.config(tmp_path)))
    done = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_target_sources_are_separate_files(tmp_path: Path) -> None:
    server = prometheus.Prometheus(work_dir=tmp_path)
    assert server.targets_file("process-kubelet") == tmp_path / "targets" / "process-kubelet.json"
    with pytest.raises(ValueError, match=r"target source '\.\./x'"):
        server.targets_file("../x")
