"""`bluegreen --version`, `--help` and every command's `--help`: exit 0 and show examples."""

from __future__ import annotations

import asyncio

from reactor import __version__
from reactor.cli.main import COMMANDS
from tests.cli.support import Result, cli


async def test_version() -> None:
    r = await cli("--version")
    assert r.rc == 0, r
    assert r.out.strip() == f"bluegreen {__version__}"


async def test_top_level_help_lists_every_command() -> None:
    r = await cli("--help")
    assert r.rc == 0, r
    for name in COMMANDS:
        assert name in r.out, f"{name} missing from --help:\n{r.out}"
    assert "bluegreen COMMAND --help" in r.out


async def test_no_command_is_bad_usage() -> None:
    r = await cli()
    assert r.rc == 2, r
    assert "usage: bluegreen" in r.err


async def test_every_command_help_shows_examples() -> None:
    argvs = [[name, "--help"] for name in COMMANDS] + [["config", "check", "--help"]]
    gate = asyncio.Semaphore(4)  # a few at a time: 20 interpreters at once on 2 loaded cores time out

    async def one(argv: list[str]) -> Result:
        async with gate:
            return await cli(*argv)
    results = await asyncio.gather(*(one(argv) for argv in argvs))
    for argv, r in zip(argvs, results, strict=True):
        assert r.rc == 0, f"{argv}: {r}"
        assert r.out.startswith("usage: bluegreen "), f"{argv}: {r}"
        assert "example" in r.out.lower(), f"no example in `bluegreen {' '.join(argv)}`:\n{r.out}"
        assert "bluegreen " + argv[0] in r.out.split("usage:", 1)[1].split("example", 1)[-1], \
            f"{argv}: the example does not show the command:\n{r.out}"
