"""The built wheel, installed into a clean venv without the dev extras: `bluegreen --help` runs, the
example configs are installed (share/bluegreen-reactor/config) and valid, LICENSE and the SPDX
license are in the metadata, the embedded Marathon and sample app are in the wheel, and loading
the daemon imports neither of them.

Kept fast: the sources are copied to a temporary directory (no build/ in the checkout),
`pip wheel --no-deps` builds only our wheel, and the dependencies come from pip's cache."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "reactor", "config")


def run(*argv: str | Path, cwd: Path | None = None,
        timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, f"{argv}: rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist", src)
    [wheel] = (tmp / "dist").glob("bluegreen_reactor-*.whl")
    return wheel


def test_wheel_installs_clean_and_runs(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = next(z.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: Apache-2.0" in metadata
    assert "Project-URL: Source" in metadata and "Classifier: Framework :: AsyncIO" in metadata
    assert {"reactor/localmarathon/server.py", "reactor/sampleapp/app.py", "reactor/py.typed"} <= names

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    py, bluegreen = venv / "bin" / "python", venv / "bin" / "bluegreen"
    run(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel)

    helped = run(bluegreen, "--help")
    assert "usage: bluegreen" in helped.stdout and "deploy" in helped.stdout
    example = venv / "share" / "bluegreen-reactor" / "config" / "reactor.toml"
    for name in ("reactor.toml", "app-example.json", "marathon-app-reactor.json", "alerts.yml",
                 "grafana-dashboard.json", "hooks_example.py"):
        assert (example.parent / name).is_file(), name
    checked = run(bluegreen, "config", "check", example)
    assert checked.stdout.strip().endswith(": ok"), checked.stdout
    listed = run(py, "-m", "pip", "list", "--format=freeze").stdout.lower().splitlines()
    installed = {line.split("==")[0] for line in listed}
    assert not installed & {"pytest", "mypy", "ruff", "hypothesis"}, installed  # no dev extras
    assert {"pyjwt", "cryptography", "aiohttp", "bluegreen-reactor"} <= installed, installed

    # the daemon and the CLI's entry never load the embedded Marathon or the sample app
    probe = ("import sys, contextlib, io, reactor.engine.engine; from reactor.cli.main import main; "
             "contextlib.redirect_stdout(io.StringIO()).__enter__(); main(['run', '--help']); "
             "bad = sorted(m for m in sys.modules if m.startswith(('reactor.localmarathon', "
             "'reactor.sampleapp'))); print(bad); sys.exit(1 if bad else 0)")
    run(py, "-c", probe)
    run(py, "-c", "import reactor.localmarathon.server, reactor.sampleapp.app")  # but they are shipped
