"""The container image's recipe: hadolint clean, pinned base, dependencies before sources, a
.dockerignore that keeps a dev checkout out of the build context, non-root, and a HEALTHCHECK
that reads the configured port (run here against the real daemon)."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.cli.support import Daemon, cli_env, cluster, write_config
from tests.waiting import free_port

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    rows = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(r.split(None, 1)[0].upper(), r.split(None, 1)[1] if " " in r else "") for r in rows]


def test_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_recipe_shape() -> None:
    steps = instructions()
    [base] = [arg for op, arg in steps if op == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert "imagetools inspect" in DOCKERFILE.read_text()  # where the digest comes from
    copies = [arg for op, arg in steps if op == "COPY"]
    runs = [i for i, (op, _) in enumerate(steps) if op == "RUN"]
    first_sources = next(i for i, (op, arg) in enumerate(steps) if op == "COPY" and arg.startswith("reactor"))
    assert copies[0] == "pyproject.toml ./"  # the dependency layer sees only pyproject.toml
    assert runs[0] < first_sources and "requirements" in steps[runs[0]][1]
    assert "--no-deps" in steps[runs[-1]][1]
    assert [arg for op, arg in steps if op == "USER"] == ["10001"]
    [health] = [arg for op, arg in steps if op == "HEALTHCHECK"]
    assert "reactor.cli.healthcheck" in health and "9090" not in health


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "**"  # everything out, then only what the image needs back in
    included = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    assert included == {"pyproject.toml", "README.md", "LICENSE", "reactor", "config"}
    copied = {w.rstrip("/") for op, arg in instructions() if op == "COPY" for w in arg.split()[:-1]}
    assert copied <= included, copied - included


async def healthcheck(env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reactor.cli.healthcheck", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=cli_env(env), cwd=str(REPO))
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode()


async def test_healthcheck_reads_the_configured_port(tmp_path: Path) -> None:
    async with cluster(blue_instances=None) as c:
        port = free_port()
        cfg = write_config(tmp_path, c.url, api_port=port)
        async with Daemon(cfg):
            assert await healthcheck({"REACTOR_CONFIG": str(cfg)}) == (0, "")
            wildcard = {"REACTOR_CONFIG": str(cfg), "BLUEGREEN_API__LISTEN": f"0.0.0.0:{port}"}
            assert await healthcheck(wildcard) == (0, "")  # every interface → checked on loopback
            other = {"REACTOR_CONFIG": str(cfg), "BLUEGREEN_API__LISTEN": f"0.0.0.0:{free_port()}"}
            rc, text = await healthcheck(other)
    assert rc == 1 and text.startswith("unhealthy: ") and len(text.strip().splitlines()) == 1, text
