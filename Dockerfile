FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BLUEGREEN_STATE__PATH=/var/lib/bluegreen/bluegreen.db \
    BLUEGREEN_API__LISTEN=0.0.0.0:9090 \
    BLUEGREEN_LOG__FORMAT=json

WORKDIR /app
COPY pyproject.toml README.md ./
COPY reactor ./reactor
COPY config ./config
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /var/lib/bluegreen --create-home bluegreen

USER 10001
EXPOSE 9090
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["bluegreen"]
CMD ["run", "--config", "/app/config/reactor.toml"]
