# One stage per architecture, each with NVIDIA's NVIDIA_REQUIRE_CUDA for it; the build
# continues from the target's (BuildKit sets TARGETARCH).
FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04 AS amd64
ENV NVIDIA_REQUIRE_CUDA="cuda>=12.1 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471 brand=geforce,driver>=470,driver<471 brand=geforcertx,driver>=470,driver<471 brand=quadro,driver>=470,driver<471 brand=quadrortx,driver>=470,driver<471 brand=titan,driver>=470,driver<471 brand=titanrtx,driver>=470,driver<471 brand=tesla,driver>=525,driver<526 brand=unknown,driver>=525,driver<526 brand=nvidia,driver>=525,driver<526 brand=nvidiartx,driver>=525,driver<526 brand=geforce,driver>=525,driver<526 brand=geforcertx,driver>=525,driver<526 brand=quadro,driver>=525,driver<526 brand=quadrortx,driver>=525,driver<526 brand=titan,driver>=525,driver<526 brand=titanrtx,driver>=525,driver<526"

FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04 AS arm64
ENV NVIDIA_REQUIRE_CUDA="cuda>=12.1"

FROM ${TARGETARCH}

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    RPBUILD_CUDA_VERSION=12.1.1

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
    && apt-get install -y --no-install-recommends python3.10 python3.10-venv \
    && python3.10 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=runtime,target=/tmp/rpbuild-runtime \
    python -m pip install -r /tmp/rpbuild-runtime/requirements.txt \
    && python -m pip install --no-deps /tmp/rpbuild-runtime/rpworker-0.1.0-py3-none-any.whl \
    && python -m rpworker.sdk_alias

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
