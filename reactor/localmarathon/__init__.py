"""The embedded Marathon-compatible server (demo and tests); imports nothing of the engine.

NOTE TO THE HELPER BUILDING THIS PACKAGE: read /work/main/AGENTS.md (working rules: commit only
your own paths with `git commit -- <paths>`, never `git add -A`; the venv is /work/main/.venv;
do not edit pyproject.toml or .ci/). Replace this note with the package docstring.
"""
