# bluegreen-reactor: the daemon (`bluegreen run`) as a non-root container.
#
# Base image pinned to an exact tag. To pin the digest as well (recommended for production), run
#   docker buildx imagetools inspect python:3.11.13-slim-bookworm
# and append the "Digest:" it prints: FROM python:3.11.13-slim-bookworm@sha256:<digest>
# (the machine this file was written on cannot reach a registry, so no digest is recorded here).
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REACTOR_CONFIG=/app/config/reactor.toml \
    BLUEGREEN_STATE__PATH=/var/lib/bluegreen/bluegreen.db \
    BLUEGREEN_API__LISTEN=0.0.0.0:9090 \
    BLUEGREEN_LOG__FORMAT=json

WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml changes, not on every code change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && useradd --system --uid 10001 --home-dir /var/lib/bluegreen --create-home bluegreen

# Then the project itself (no dependency is fetched again).
COPY README.md LICENSE ./
COPY reactor ./reactor
COPY config ./config
RUN pip install --no-cache-dir --no-deps .

USER 10001
EXPOSE 9090
STOPSIGNAL SIGTERM
# Reads [api] listen from $REACTOR_CONFIG and BLUEGREEN_API__LISTEN: a changed port needs no edit here.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-m", "reactor.cli.healthcheck"]
ENTRYPOINT ["bluegreen"]
CMD ["run", "--config", "/app/config/reactor.toml"]
