FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    NVIDIA_REQUIRE_CUDA="cuda>=12.1 brand=tesla,driver>=470,driver<471 brand=tesla,driver>=525,driver<526" \
    RPBUILD_CUDA_VERSION=12.1.1

# hadolint ignore=DL3008
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini ffmpeg libsndfile1

# hadolint ignore=DL3008
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    apt-get update \
    && apt-get install -y --no-install-recommends python3.10 python3.10-venv \
    && python3.10 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=runtime,target=/tmp/rpbuild-runtime \
    python -m pip install -r /tmp/rpbuild-runtime/requirements.txt \
    && python -m pip install --no-deps /tmp/rpbuild-runtime/rpworker-0.1.0-py3-none-any.whl

LABEL io.rpbuild.base="nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04" \
      io.rpbuild.cuda="12.1.1" \
      io.rpbuild.cudnn="8" \
      io.rpbuild.flavor="runtime" \
      io.rpbuild.kind="base" \
      io.rpbuild.python="3.10" \
      io.rpbuild.runtime-version="0.1.0" \
      io.rpbuild.torch="none" \
      io.rpbuild.torch-cuda="none" \
      io.rpbuild.ubuntu="22.04" \
      org.opencontainers.image.title="rpbuild GPU base image" \
      org.opencontainers.image.version="cuda12.1.1-cudnn8-runtime-ubuntu22.04-py3.10-torchnone-rpbuild0.1.0"

ENTRYPOINT ["tini", "--", "rpworker"]
