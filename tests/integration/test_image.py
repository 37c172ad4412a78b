"""The operator image (Dockerfile, ``make image``) and, since this machine has no container
engine, what can be checked without one: the project's wheel builds, installs into a fresh
virtualenv with its dependencies, and ``mlops-operator`` runs from it, which is what the
image's build stage does. The chart's default image is the one ``make image`` tags.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
HELM = REPO / ".local" / "bin" / "helm"


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_builds_from_the_wheel_and_runs_as_non_root() -> None:
    steps = _instructions()
    args = dict(a.split("=", 1) for k, a in steps if k == "ARG" and "=" in a)
    assert args["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"
    assert "Pin it by digest" in DOCKERFILE.read_text()
    froms = [a for k, a in steps if k == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]  # multi-stage, one base
    build, final = (
        steps[: steps.index(("FROM", froms[1]))],
        steps[steps.index(("FROM", froms[1])) :],
    )
    run = " ".join(a for k, a in build if k == "RUN")
    assert "pip wheel --no-deps --wheel-dir /dist ." in run
    assert "pip install /dist/*.whl" in run
    # The final stage gets only the virtualenv: no sources, no build tools.
    assert [a for k, a in final if k == "COPY"] == [
        "--from=build /opt/mlops-operator /opt/mlops-operator"
    ]
    assert ("USER", "65532:65532") in final
    assert ("ENTRYPOINT", '["mlops-operator"]') in final
    assert ("CMD", '["run"]') in final
    ignore = (REPO / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:4] == ["*", "!pyproject.toml", "!README.md", "!operator/"]


def test_the_charts_default_image_is_what_make_image_tags() -> None:
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "image", "CONTAINER_ENGINE=echo"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    tag = re.search(r" -t (\S+) \.$", out.splitlines()[-1])
    assert tag, out
    chart = yaml.safe_load((REPO / "charts" / "mlops-operator" / "Chart.yaml").read_text())
    values = yaml.safe_load((REPO / "charts" / "mlops-operator" / "values.yaml").read_text())
    assert values["image"]["tag"] == ""  # the appVersion
    assert tag.group(1) == f"{values['image']['repository']}:{chart['appVersion']}"
    # The pod runs the image's entrypoint with its default command, as the chart says too.
    if HELM.exists():
        rendered = subprocess.run(
            [str(HELM), "template", "rel", str(REPO / "charts" / "mlops-operator"),
             "--show-only", "templates/deployment.yaml"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        container = yaml.safe_load(rendered)["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == tag.group(1)
        assert container["command"] == ["mlops-operator"]
        assert container["args"][0] == "run"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_make_image_says_so_when_there_is_no_engine() -> None:
    engines = [e for e in ("docker", "podman") if shutil.which(e)]
    working = [
        e
        for e in engines
        if subprocess.run([e, "info"], capture_output=True, timeout=30, check=False).returncode == 0
    ]
    if working:
        pytest.skip(
            f"{working[0]} works here, so `make image` builds the image instead of saying "
            "there is no engine: the message this test checks cannot occur"
        )
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "image"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "no container engine here" in result.stderr
    assert "nothing was built" in result.stderr


def test_wheel_builds_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    """What the Dockerfile's build stage does, on this machine (dependencies from the
    package index, through pip's cache)."""
    # The build context the Dockerfile copies, and nothing else (.dockerignore): a wheel
    # that needs another file fails here as it would in the image build.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "operator", src / "operator",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )  # fmt: skip
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), str(src)],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    (wheel,) = dist.glob("mlops_operator-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"mlops_operator"}, packages  # no tests, hack or bench inside
    assert "mlops_operator/py.typed" in names

    # A venv without pip of its own, filled by this pip (--python), without compiling
    # bytecode: the same install, in less time on a busy machine.
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--disable-pip-version-check", "--no-compile", str(wheel)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    for args, needle in [(["--help"], "lineage"), (["run", "--help"], "--leader-election")]:
        out = subprocess.run(
            ["mlops-operator", *args], cwd=tmp_path, env=env,
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert needle in out.stdout, out.stdout
    # It is the installed copy that ran, not the repository's sources.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import mlops_operator as m; print(m.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), where
