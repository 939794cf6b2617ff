FROM nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    NVIDIA_REQUIRE_CUDA="cuda>=12.8 brand=unknown,driver>=470,driver<471 brand=grid,driver>=470,driver<471 brand=tesla,driver>=470,driver<471 brand=nvidia,driver>=470,driver<471 brand=quadro,driver>=470,driver<471 brand=quadrortx,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471 brand=vapps,driver>=470,driver<471 brand=vpc,driver>=470,driver<471 brand=vcs,driver>=470,driver<471 brand=vws,driver>=470,driver<471 brand=cloudgaming,driver>=470,driver<471 brand=unknown,driver>=535,driver<536 brand=grid,driver>=535,driver<536 brand=tesla,driver>=535,driver<536 brand=nvidia,driver>=535,driver<536 brand=quadro,driver>=535,driver<536 brand=quadrortx,driver>=535,driver<536 brand=nvidiartx,driver>=535,driver<536 brand=vapps,driver>=535,driver<536 brand=vpc,driver>=535,driver<536 brand=vcs,driver>=535,driver<536 brand=vws,driver>=535,driver<536 brand=cloudgaming,driver>=535,driver<536 brand=unknown,driver>=550,driver<551 brand=grid,driver>=550,driver<551 brand=tesla,driver>=550,driver<551 brand=nvidia,driver>=550,driver<551 brand=quadro,driver>=550,driver<551 brand=quadrortx,driver>=550,driver<551 brand=nvidiartx,driver>=550,driver<551 brand=vapps,driver>=550,driver<551 brand=vpc,driver>=550,driver<551 brand=vcs,driver>=550,driver<551 brand=vws,driver>=550,driver<551 brand=cloudgaming,driver>=550,driver<551 brand=unknown,driver>=560,driver<561 brand=grid,driver>=560,driver<561 brand=tesla,driver>=560,driver<561 brand=nvidia,driver>=560,driver<561 brand=quadro,driver>=560,driver<561 brand=quadrortx,driver>=560,driver<561 brand=nvidiartx,driver>=560,driver<561 brand=vapps,driver>=560,driver<561 brand=vpc,driver>=560,driver<561 brand=vcs,driver>=560,driver<561 brand=vws,driver>=560,driver<561 brand=cloudgaming,driver>=560,driver<561 brand=unknown,driver>=565,driver<566 brand=grid,driver>=565,driver<566 brand=tesla,driver>=565,driver<566 brand=nvidia,driver>=565,driver<566 brand=quadro,driver>=565,driver<566 brand=quadrortx,driver>=565,driver<566 brand=nvidiartx,driver>=565,driver<566 brand=vapps,driver>=565,driver<566 brand=vpc,driver>=565,driver<566 brand=vcs,driver>=565,driver<566 brand=vws,driver>=565,driver<566 brand=cloudgaming,driver>=565,driver<566" \
    RPBUILD_CUDA_VERSION=12.8.1

# hadolint ignore=DL3008
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=secret,id=ca_bundle \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get -o Acquire::https::CAInfo=/run/secrets/ca_bundle update \
    && apt-get -o Acquire::https::CAInfo=/run/secrets/ca_bundle install -y --no-install-recommends ca-certificates tini

# hadolint ignore=DL3008
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=secret,id=ca_bundle \
    apt-get -o Acquire::https::CAInfo=/run/secrets/ca_bundle update \
    && apt-get -o Acquire::https::CAInfo=/run/secrets/ca_bundle install -y --no-install-recommends software-properties-common gpg-agent \
    && SSL_CERT_FILE=/run/secrets/ca_bundle add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get -o Acquire::https::CAInfo=/run/secrets/ca_bundle update \
    && apt-get -o Acquire::https::CAInfo=/run/secrets/ca_bundle install -y --no-install-recommends python3.13 python3.13-venv gcc libc6-dev python3.13-dev \
    && python3.13 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

ENV LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=ca_bundle \
    PIP_CERT=/run/secrets/ca_bundle python -m pip install --index-url "${TORCH_INDEX_URL}" "torch==2.7.1+cu128"

RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=ca_bundle \
    --mount=type=bind,source=runtime,target=/tmp/rpbuild-runtime \
    PIP_CERT=/run/secrets/ca_bundle python -m pip install -r /tmp/rpbuild-runtime/requirements.txt \
    && python -m pip install --no-deps /tmp/rpbuild-runtime/rpworker-0.1.0-py3-none-any.whl \
    && python -m rpworker.sdk_alias

ENV RPWORKER_MIN_GPUS=1 \
    RPWORKER_MIN_FREE_MEMORY_MB=20000 \
    RPWORKER_MIN_COMPUTE_CAPABILITY=8.0
LABEL io.rpbuild.base="nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04" \
      io.rpbuild.cuda="12.8.1" \
      io.rpbuild.cudnn="9" \
      io.rpbuild.flavor="devel" \
      io.rpbuild.kind="base" \
      io.rpbuild.python="3.13" \
      io.rpbuild.runtime-version="0.1.0" \
      io.rpbuild.torch="2.7.1+cu128" \
      io.rpbuild.torch-cuda="12.8" \
      io.rpbuild.ubuntu="24.04" \
      org.opencontainers.image.title="rpbuild GPU base image" \
      org.opencontainers.image.version="cuda12.8.1-cudnn9-devel-ubuntu24.04-py3.13-torch2.7.1-cu128-rpbuild0.1.0"

ENTRYPOINT ["tini", "--", "rpworker"]
