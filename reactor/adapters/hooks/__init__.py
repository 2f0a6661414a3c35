"""Hook transports: webhooks (HTTP POST, signed), commands (argv, event JSON on stdin) and
Python handlers (modules and entry points, called with keyword arguments).

Transports deliver and ask; what a failure means (logged, counted, veto) is the engine's
dispatcher's decision (reactor.engine.hooks).
"""

from reactor.adapters.hooks.command import EX_TEMPFAIL, Command
from reactor.adapters.hooks.errors import HookRejected, HookTimedOut, HookTransportError
from reactor.adapters.hooks.python import ENTRY_POINT_GROUP, HookConfigError, call_handler, load_hooks
from reactor.adapters.hooks.webhook import Webhook, sign, verify

__all__ = ["ENTRY_POINT_GROUP", "EX_TEMPFAIL", "Command", "HookConfigError", "HookRejected", "HookTimedOut",
           "HookTransportError", "Webhook", "call_handler", "load_hooks", "sign", "verify"]
