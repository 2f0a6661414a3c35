"""The sample application used by the demo and the end-to-end tests.

`build_app(settings)` gives the aiohttp application, `SampleServer` runs it in-process, and
`bluegreen sample-app` runs it as a task would. It imports nothing of the reactor product.
"""

from reactor.sampleapp.app import SampleSettings, WorkState, build_app
from reactor.sampleapp.server import LEDGER_FILE, SampleServer, serve_until_signal

__all__ = ["LEDGER_FILE", "SampleServer", "SampleSettings", "WorkState", "build_app", "serve_until_signal"]
