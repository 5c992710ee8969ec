# The kworkflow image: the worker by default; the API runs from the same image (see
# docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml README.md worker.py ./
COPY interpreter/ interpreter/
COPY activities/ activities/
COPY api/ api/
COPY cli/ cli/
COPY client/ client/
COPY registry/ registry/
COPY storage/ storage/
COPY telemetry/ telemetry/
COPY limiter/ limiter/
COPY examples/ examples/
RUN pip install . \
    && useradd --create-home --uid 10001 kworkflow

USER kworkflow

CMD ["python", "worker.py"]
