# notifier worker image: slim, pinned, non-root; the worker is the entry point.
FROM python:3.11.7-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY alembic ./alembic
COPY templates ./templates
RUN pip install --no-cache-dir --disable-pip-version-check build==1.2.2 \
 && python -m build --wheel --outdir /wheels .

FROM python:3.11.7-slim-bookworm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HEALTH_HOST=0.0.0.0
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin notifier
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --disable-pip-version-check /wheels/*.whl && rm -rf /wheels
USER 10001
EXPOSE 8080
ENTRYPOINT ["notifier"]
CMD ["worker"]
