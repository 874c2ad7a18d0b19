# The Kredo decision service. Build: docker build -t kredo .
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc g++ libgomp1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY engine engine
COPY features features
COPY training training
COPY serving serving
COPY rules rules
RUN pip install --no-cache-dir -c constraints.txt .
RUN useradd --create-home kredo && mkdir -p /app/var /app/mlruns && chown -R kredo /app
USER kredo
EXPOSE 8000
# REDIS_URL, DATABASE_URL and MLFLOW_TRACKING_URI point at the production services.
CMD ["kredo", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
