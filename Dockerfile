# intake: one image for every role (migrate, worker, beat, web); the command picks the role.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 INTAKE_DATA_DIR=/var/lib/intake
WORKDIR /app
COPY pyproject.toml README.md ./
COPY intake ./intake
COPY workers ./workers
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/intake intake \
    && mkdir -p /var/lib/intake && chown intake /var/lib/intake
USER intake
EXPOSE 8000
CMD ["intake", "run"]
