"""Maps typed adapter/config errors to one clear line and the contract's exit code.

Owns the table error type → exit code, so every command reports the same failure the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from reactor.cli.common import CliError
from reactor.cli.exitcodes import Exit


@contextlib.contextmanager
def marathon_errors() -> Iterator[None]:
    """Marathon unreachable/refusing → 4; Marathon rejecting our input → 2; state store → 2;
    another reactor holding the group (a save refused) → 3."""
    from reactor.adapters.marathon import errors as M
    from reactor.adapters.marathon.dcos_auth import DcosConfigError
    from reactor.adapters.store.errors import LeaseLost, StoreError

    try:
        yield
    except DcosConfigError as exc:
        raise CliError(str(exc), Exit.BAD_INPUT) from None
    except M.ValidationFailed as exc:
        raise CliError(f"Marathon rejected the app definition: {exc}", Exit.BAD_INPUT) from None
    except M.AppExists as exc:
        raise CliError(f"{exc} (give the new version a different id)", Exit.BAD_INPUT) from None
    except (M.Unauthorized, M.Forbidden) as exc:
        raise CliError(f"Marathon refused our credentials: {exc}", Exit.MARATHON_UNREACHABLE) from None
    except (M.MarathonUnreachable, M.LeaderUnavailable) as exc:
        raise CliError(f"Marathon unreachable: {exc}", Exit.MARATHON_UNREACHABLE) from None
    except M.MarathonError as exc:
        raise CliError(f"Marathon error: {exc}", Exit.MARATHON_UNREACHABLE) from None
    except StoreError as exc:
        raise CliError(str(exc), Exit.BAD_INPUT) from None
    except LeaseLost as exc:
        raise CliError(f"another reactor acts for the group: {exc}", Exit.MISSING_COMPONENT) from None


@contextlib.contextmanager
def map_startup_errors() -> Iterator[None]:
    """Everything `run`/`deploy` can meet while starting: config, hooks, LB, Marathon, store."""
    from reactor.adapters.lb.errors import LbError
    from reactor.engine.hooks import HookLoadError

    with marathon_errors():
        try:
            yield
        except HookLoadError as exc:
            raise CliError(str(exc), Exit.BAD_INPUT) from None
        except LbError as exc:
            raise CliError(f"load balancer: {exc}", Exit.MISSING_COMPONENT) from None
