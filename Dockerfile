# The Kredo decision service, built from its wheel.  Build: docker build -t kredo .
# Stage 1 builds the wheel from the source tree; stage 2 installs only the wheel (the policy, its schema,
# the interest table and the Lua script ship inside it as package data) and runs as a non-root user.
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY domain domain
COPY ledger ledger
COPY engine engine
COPY features features
COPY training training
COPY serving serving
COPY rules rules
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# libgomp1: xgboost's OpenMP runtime; pango: WeasyPrint's text layout (the pages' PDF exports); the system
# libraries the wheels do not carry, pinned to bookworm's builds
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1=12.2.0-14+deb12u1 \
       libpango-1.0-0=1.50.12+ds-1 libpangoft2-1.0-0=1.50.12+ds-1 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/constraints.txt /tmp/constraints.txt
COPY --from=build /wheels /wheels
RUN pip install -c /tmp/constraints.txt /wheels/*.whl && rm -rf /wheels /tmp/constraints.txt
RUN useradd --create-home --uid 10001 kredo && mkdir -p /app/var /app/mlruns && chown -R 10001 /app
WORKDIR /app
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# REDIS_URL, DATABASE_URL and MLFLOW_TRACKING_URI point at the production services.
CMD ["kredo", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
