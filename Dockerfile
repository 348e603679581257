# The memory service: `freqtrade-mem0 serve` (see docs/service.md).
#   docker build -t freqtrade-mem0 .
#   docker run -p 8080:8080 -v mem0-data:/data freqtrade-mem0
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    MEM0_TELEMETRY=False

WORKDIR /app

# The CPU build of torch first, so nothing later pulls a CUDA build (gigabytes, unused here).
COPY constraints.txt ./
RUN pip install --index-url https://download.pytorch.org/whl/cpu -c constraints.txt torch

COPY pyproject.toml README.md ./
COPY freqtrade_mem0 ./freqtrade_mem0
RUN pip install -c constraints.txt '.[server]'

RUN useradd --create-home --uid 1000 mem0 && mkdir -p /data && chown mem0:mem0 /data
USER mem0
VOLUME ["/data"]

# The embedded store, the backups and the API keys live in the volume; QDRANT_URL switches to
# a server. The service refuses to start without a key: docker compose run --rm mem0
# freqtrade-mem0 keys create --name ops --role admin (docs/security.md).
ENV MEM0_HOST=0.0.0.0 \
    MEM0_PORT=8080 \
    MEM0_DATA_DIR=/data/mem0 \
    MEM0_BACKUP_DIR=/data/backups \
    MEM0_KEYS_FILE=/data/keys.json
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('MEM0_PORT', '8080'), timeout=4)"

CMD ["freqtrade-mem0", "serve"]
