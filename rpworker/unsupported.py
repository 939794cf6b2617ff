"""The SDK names rpworker's ``runpod`` does not provide, and what to do instead."""

from __future__ import annotations

import os


class NotProvided(ImportError):
    """A name of the SDK that rpworker's ``runpod`` lacks; the message says what to do.

    An ImportError, so ``from runpod import Endpoint`` shows this message (an
    AttributeError would become Python's bare "cannot import name").
    """


CLIENT_SIDE = frozenset(
    {
        "AsyncioEndpoint",
        "AsyncioJob",
        "Endpoint",
        "api",
        "check_credentials",
        "create_container_registry_auth",
        "create_endpoint",
        "create_pod",
        "create_template",
        "delete_container_registry_auth",
        "endpoint",
        "get_credentials",
        "get_endpoints",
        "get_gpu",
        "get_gpus",
        "get_pod",
        "get_pods",
        "get_user",
        "resume_pod",
        "set_credentials",
        "stop_pod",
        "terminate_pod",
        "update_container_registry_auth",
        "update_endpoint_template",
        "update_user_settings",
    }
)
"""``runpod.<name>`` of the SDK's client side (endpoints, pods, credentials)."""

NEWER_SDK = frozenset({"VolumeCache", "register_fitness_check"})
"""Worker-side names that SDK 1.12 added and no public worker uses yet."""


def _client_side(name: str) -> NotProvided:
    endpoint_url_base = os.environ.get("RUNPOD_ENDPOINT_BASE_URL", "https://api.runpod.ai/v2")
    return NotProvided(
        f"runpod.{name} is part of the SDK's client side, which rpworker's `runpod` "
        "(the worker side only) does not include: call the endpoint's HTTP API "
        f"({endpoint_url_base}/ENDPOINT_ID/run) directly, or run the client in a "
        "separate process with the SDK installed (pip install runpod; in an image built "
        "by rpbuild, set `runpod_sdk: keep` in rpbuild.yaml)"
    )


def _newer_sdk(module: str, name: str) -> NotProvided:
    return NotProvided(
        f"{module}.{name} (added in SDK 1.12) is not supported by rpworker: remove it; "
        "rpworker checks the GPUs at start itself (see `rpworker gpu-check`)"
    )


def explain(module: str, name: str) -> ImportError | AttributeError:
    """What ``module.name`` raises where rpworker's ``runpod`` lacks it (for ``__getattr__``)."""
    if module == "runpod" and name in CLIENT_SIDE:
        return _client_side(name)
    if name in NEWER_SDK:
        return _newer_sdk(module, name)
    return AttributeError(f"module {module!r} has no attribute {name!r}")
