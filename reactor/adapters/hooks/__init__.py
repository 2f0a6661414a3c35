"""Hook transports: webhooks (HTTP POST, signed) and commands (argv, event JSON on stdin).

Transports deliver and ask; what a failure means (logged, counted, veto) is the engine's
dispatcher's decision (reactor.engine.hooks).
"""

from reactor.adapters.hooks.command import EX_TEMPFAIL, Command
from reactor.adapters.hooks.errors import HookRejected, HookTimedOut, HookTransportError
from reactor.adapters.hooks.webhook import Webhook, sign, verify

__all__ = ["EX_TEMPFAIL", "Command", "HookRejected", "HookTimedOut", "HookTransportError", "Webhook",
           "sign", "verify"]
