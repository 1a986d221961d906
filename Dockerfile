# notifier worker image: slim, pinned, non-root; `notifier worker` is the default command.
#   docker build -t notifier .                 docker run --env-file prod.env notifier
#   docker run --env-file prod.env notifier migrate      (any other notifier command too)
# Base images are pinned by tag, Python dependencies by constraints.txt.
FROM python:3.11.7-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md alembic.ini constraints.txt ./
COPY src ./src
COPY alembic ./alembic
COPY templates ./templates
# notifier's wheel and a wheel of every dependency, at the versions constraints.txt pins.
RUN pip wheel --constraint constraints.txt --wheel-dir /wheels .

FROM python:3.11.7-slim-bookworm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 HEALTH_HOST=0.0.0.0 HEALTH_PORT=8080
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin notifier
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels notifier && rm -rf /wheels
USER 10001
EXPOSE 8080
# The same probe docker-compose.yml uses (and the tests run): 200 from /health, or unhealthy.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('HEALTH_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=3).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["notifier"]
CMD ["worker"]
