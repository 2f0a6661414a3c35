"""A `MarathonClient` built from the `[marathon]` settings: secrets read, DC/OS account loaded.

Owns the one place where settings become client arguments, so the daemon and every CLI command
talk to Marathon with the same credentials. Must not: start the client or contact anything.
"""

from __future__ import annotations

from collections.abc import Callable

from reactor.adapters.marathon.client import MarathonClient
from reactor.adapters.marathon.dcos_auth import (
    DcosConfigError,
    DcosToken,
    default_login_url,
    load_service_account,
)
from reactor.adapters.marathon.transport import OnRequest
from reactor.settings import MarathonSettings, secret_value


def dcos_token_from_settings(ms: MarathonSettings) -> DcosToken | None:
    """The service account's token keeper, or None without `dcos_uid`; raises DcosConfigError."""
    if ms.dcos_uid is None or ms.dcos_private_key_file is None:
        return None
    if ms.username or ms.token or ms.token_file:
        raise DcosConfigError("marathon: a DC/OS service account (dcos_uid) replaces username/password "
                              "and token/token_file; remove those")
    login_url = ms.dcos_login_url or default_login_url(ms.urls[0])
    account = load_service_account(ms.dcos_uid, ms.dcos_private_key_file, login_url)
    return DcosToken(account, timeout_s=ms.request_timeout_s)


def client_from_settings(
    ms: MarathonSettings,
    *,
    on_request: OnRequest | None = None,
    on_auth_failure: Callable[[str], None] | None = None,
    request_timeout_s: float | None = None,
) -> MarathonClient:
    """Raises DcosConfigError (bad key file) or OSError (unreadable token file)."""
    return MarathonClient(
        ms.urls,
        username=ms.username,
        password=ms.password.get_secret_value() if ms.password else None,
        token=secret_value(ms.token, ms.token_file),
        ca_file=str(ms.ca_file) if ms.ca_file else None,
        verify_tls=ms.verify_tls,
        request_timeout_s=request_timeout_s or ms.request_timeout_s,
        on_request=on_request,
        on_auth_failure=on_auth_failure,
        dcos=dcos_token_from_settings(ms),
    )
