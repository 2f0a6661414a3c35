"""The embedded Marathon-1.11-compatible server (`bluegreen local-marathon`) for the demo and tests.

Imports nothing of the engine, adapters, core or settings, and writes Marathon's JSON from its own
definitions (model.py, catalogue.py) checked against /work/shared/reference/marathon-api.md.
In-process use: `from reactor.localmarathon.server import LocalMarathon`.
"""
