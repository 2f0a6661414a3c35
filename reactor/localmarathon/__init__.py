"""The embedded Marathon-compatible server (demo and tests); imports nothing of the engine."""
