FROM rpbuild/base:cuda12.1.1-cudnnnone-base-ubuntu22.04-py3.10-torch2.3.1-cu121-rpbuild0.1.0

# hadolint ignore=DL3008
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libsndfile1

WORKDIR /app

COPY requirements.txt /app/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip_conf \
    PIP_CONFIG_FILE=/run/secrets/pip_conf python -m pip install -r /app/requirements.txt

COPY app/ /app/

ENV RPWORKER_MIN_GPUS=2
LABEL io.rpbuild.base="rpbuild/base:cuda12.1.1-cudnnnone-base-ubuntu22.04-py3.10-torch2.3.1-cu121-rpbuild0.1.0" \
      io.rpbuild.kind="app" \
      org.opencontainers.image.title="hello" \
      org.opencontainers.image.version="cuda12.1.1-cudnnnone-base-ubuntu22.04-py3.10-torch2.3.1-cu121-rpbuild0.1.0"

ENTRYPOINT ["tini", "--", "rpworker", "/app/handler.py"]
