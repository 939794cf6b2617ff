FROM nvidia/cuda:11.8.0-base-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    NVIDIA_REQUIRE_CUDA="cuda>=11.8 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471 brand=geforce,driver>=470,driver<471 brand=geforcertx,driver>=470,driver<471 brand=quadro,driver>=470,driver<471 brand=quadrortx,driver>=470,driver<471 brand=titan,driver>=470,driver<471 brand=titanrtx,driver>=470,driver<471" \
    RPBUILD_CUDA_VERSION=11.8.0

# hadolint ignore=DL3008
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini

# hadolint ignore=DL3008
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    apt-get update \
    && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv gcc libc6-dev python3.11-dev \
    && python3.11 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

ENV LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu118
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m pip install --index-url "${TORCH_INDEX_URL}" "torch==2.1.2+cu118"

RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=runtime,target=/tmp/rpbuild-runtime \
    python -m pip install -r /tmp/rpbuild-runtime/requirements.txt \
    && python -m pip install --no-deps /tmp/rpbuild-runtime/rpworker-0.1.0-py3-none-any.whl \
    && python -m rpworker.sdk_alias

LABEL io.rpbuild.base="nvidia/cuda:11.8.0-base-ubuntu22.04" \
      io.rpbuild.cuda="11.8.0" \
      io.rpbuild.cudnn="none" \
      io.rpbuild.flavor="base" \
      io.rpbuild.kind="base" \
      io.rpbuild.python="3.11" \
      io.rpbuild.runtime-version="0.1.0" \
      io.rpbuild.torch="2.1.2+cu118" \
      io.rpbuild.torch-cuda="11.8" \
      io.rpbuild.ubuntu="22.04" \
      org.opencontainers.image.title="rpbuild GPU base image" \
      org.opencontainers.image.version="cuda11.8.0-cudnnnone-base-ubuntu22.04-py3.11-torch2.1.2-cu118-rpbuild0.1.0"

ENTRYPOINT ["tini", "--", "rpworker"]
