# ConnectPSP's server image: `connectpsp serve` by default; `connectpsp worker`,
# `connectpsp migrate` and the other commands by naming them (docker run IMAGE worker).
# Plain `docker build .` works (BuildKit or not). `make image` builds it on a base
# bootstrapped from Debian's packages when python:3.11-slim-bookworm cannot be pulled
# (docs/deploy.md).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- builder: the project's wheel, installed with its dependencies into a venv --------
FROM ${BASE_IMAGE} AS builder
# So that `make image` can remove this stage's leftovers (the legacy builder keeps them).
LABEL connectpsp.stage=builder
# Set to 1 (with the wheels in deploy/wheelhouse/) to build without reaching PyPI.
ARG PIP_NO_INDEX
ENV PIP_FIND_LINKS=/src/deploy/wheelhouse \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY deploy/wheelhouse/ deploy/wheelhouse/
COPY pyproject.toml README.md LICENSE CHANGELOG.md ./
COPY src/ src/
RUN python3 -m venv /opt/build \
    && /opt/build/bin/pip wheel --no-deps --wheel-dir /dist . \
    && python3 -m venv /opt/connectpsp \
    && /opt/connectpsp/bin/pip install "$(ls /dist/connectpsp-*.whl)[server]" \
    && /opt/connectpsp/bin/connectpsp --version \
    && /opt/connectpsp/bin/pip uninstall --yes pip setuptools

# --- runtime: the venv alone, no compiler, no build tools, a non-root user -----------
FROM ${BASE_IMAGE}
ARG UID=10001
RUN groupadd --system --gid ${UID} connectpsp \
    && useradd --system --uid ${UID} --gid connectpsp --home-dir /var/lib/connectpsp \
        --shell /usr/sbin/nologin connectpsp \
    && mkdir -p /var/lib/connectpsp \
    && chown connectpsp:connectpsp /var/lib/connectpsp
COPY --from=builder /opt/connectpsp /opt/connectpsp
ENV PATH=/opt/connectpsp/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONNECTPSP_VAR_DIR=/var/lib/connectpsp \
    CONNECTPSP_DATABASE_URL=sqlite:////var/lib/connectpsp/connectpsp.db
# SQLite's file, the sandbox's master key and demo credentials live here: keep it on a
# volume. With PostgreSQL nothing needs to persist in the container.
VOLUME ["/var/lib/connectpsp"]
WORKDIR /var/lib/connectpsp
USER connectpsp
EXPOSE 8000
# Liveness: the process answers (no I/O). Load balancers should use /readyz instead
# (database reachable and migrated). A worker has no HTTP port: compose disables this
# for it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=2)"]
ENTRYPOINT ["connectpsp"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
