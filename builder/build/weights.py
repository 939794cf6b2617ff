"""``weights:`` entries as build steps and as the runtime manifest an image carries.

An entry fetched at build time becomes one RUN step of its own (``python -m
rpworker.weights``, the runtime's own fetcher, already in the base image), so each
entry is its own layer and a change to one refetches only that one. Entries marked
``at: runtime`` go into a JSON manifest the worker reads at start.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from builder.build.spec import WeightsSource
from rpworker.weights import Entry

HF_TOKEN = "HF_TOKEN"
"""The build secret a hub entry's step mounts (``--secret id=HF_TOKEN,env=HF_TOKEN``)."""
HF_ENDPOINT = "HF_ENDPOINT"
MANIFEST_FILE = "rpbuild-weights.json"
"""The runtime manifest's name in the build context (rpworker.weights.MANIFEST in the image)."""


@dataclass(frozen=True)
class FetchStep:
    """One RUN step: the fetcher's arguments and the secrets mounted for it."""

    args: tuple[str, ...]
    secrets: tuple[str, ...]


def entry(index: int, source: WeightsSource) -> Entry:
    """The runtime's view of entry ``index``; its name leads every message about it."""
    secret = source.secret or (HF_TOKEN if source.hf else None)
    token_file = f"/run/secrets/{secret}" if secret and source.at == "build" else None
    return Entry.of(source, f"weights[{index}]", token_file)


def _args(item: Entry) -> tuple[str, ...]:
    args = [f"--name={item.name}", f"--to={item.path}"]
    if item.url is not None:
        args += [f"--url={item.url}", f"--sha256={item.sha256}"]
    else:
        args += [f"--hf={item.hf}", f"--revision={item.revision}"]
        args += [f"--file={pattern}" for pattern in item.files]
    if item.token_file:
        args.append(f"--token-file={item.token_file}")
    return tuple(args)


def fetch_steps(sources: Sequence[WeightsSource]) -> tuple[FetchStep, ...]:
    steps = []
    for index, source in enumerate(sources):
        if source.at != "build":
            continue
        item = entry(index, source)
        secret = (item.token_file or "").removeprefix("/run/secrets/")
        steps.append(FetchStep(_args(item), (secret,) if secret else ()))
    return tuple(steps)


def runtime_manifest(sources: Sequence[WeightsSource]) -> str | None:
    """The JSON the worker reads at start, ``None`` when no entry is ``at: runtime``."""
    entries = [entry(i, s).as_dict() for i, s in enumerate(sources) if s.at == "runtime"]
    return json.dumps(entries, indent=2, sort_keys=True) + "\n" if entries else None


def uses_hub(sources: Sequence[WeightsSource]) -> bool:
    return any(source.hf and source.at == "build" for source in sources)


def hub_build_inputs(
    sources: Sequence[WeightsSource],
    secret_ids: set[str],
    build_args: Sequence[tuple[str, str]],
    environ: dict[str, str] | None = None,
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Secrets and build args that carry this shell's HF_TOKEN and HF_ENDPOINT into the build.

    The hub client's own settings: a token in the environment becomes a build secret
    (never a build arg, which a layer's history would keep); an endpoint a build arg.
    Explicit ``--secret id=HF_TOKEN`` and ``--build-arg HF_ENDPOINT`` win.
    """
    if not uses_hub(sources):
        return (), ()
    env = dict(os.environ) if environ is None else environ
    extra_secrets: tuple[str, ...] = ()
    if env.get(HF_TOKEN) and HF_TOKEN not in secret_ids:
        extra_secrets = (f"id={HF_TOKEN},env={HF_TOKEN}",)
    extra_args: tuple[tuple[str, str], ...] = ()
    if env.get(HF_ENDPOINT) and HF_ENDPOINT not in {key for key, _ in build_args}:
        extra_args = ((HF_ENDPOINT, env[HF_ENDPOINT]),)
    return extra_secrets, extra_args
