"""Image labels: rpbuild's claims about an image, and OCI provenance.

Claims (io.rpbuild.*) are pure functions of the spec and go into the Dockerfile.
Provenance that depends on the clock or the checkout (created, revision, source) is
passed as ``--label`` at build time, so the rendered Dockerfile stays byte-identical.
``created`` honours SOURCE_DATE_EPOCH for reproducible builds.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from builder import __version__
from builder.build.spec import BaseSpec

PREFIX = "io.rpbuild."
OCI = "org.opencontainers.image."


def claims(spec: BaseSpec) -> dict[str, str]:
    """What verify checks the image against; one entry per tag axis.

    On a ``--base-image`` rpbuild knows neither the distribution nor a cuDNN: instead of
    the nvidia/cuda row's ubuntu, cudnn and flavor it claims the base reference as given.
    """
    base = (
        {f"{PREFIX}base-image": spec.base_image}
        if spec.base_image is not None
        else {
            f"{PREFIX}cudnn": spec.cudnn,
            f"{PREFIX}ubuntu": spec.ubuntu,
            f"{PREFIX}flavor": spec.flavor,
        }
    )
    return {
        f"{PREFIX}cuda": spec.cuda.version,
        **base,
        f"{PREFIX}python": spec.python,
        f"{PREFIX}torch": spec.torch.local_version if spec.torch else "none",
        f"{PREFIX}torch-cuda": spec.torch.cuda if spec.torch else "none",
        f"{PREFIX}runtime-version": __version__,
    }


def base_labels(spec: BaseSpec, version: str) -> dict[str, str]:
    return dict(
        sorted(
            {
                **claims(spec),
                f"{PREFIX}kind": "base",
                f"{PREFIX}base": spec.from_ref,
                f"{OCI}title": "rpbuild GPU base image",
                f"{OCI}version": version,
            }.items()
        )
    )


def app_labels(base_ref: str, title: str, version: str) -> dict[str, str]:
    """An app inherits the base's claims; it adds only what differs."""
    return dict(
        sorted(
            {
                f"{PREFIX}kind": "app",
                f"{PREFIX}base": base_ref,
                f"{OCI}title": title,
                f"{OCI}version": version,
            }.items()
        )
    )


def created(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    epoch = env.get("SOURCE_DATE_EPOCH")
    moment = (
        datetime.fromtimestamp(int(epoch), tz=timezone.utc)
        if epoch
        else datetime.now(tz=timezone.utc).replace(microsecond=0)
    )
    return moment.isoformat().replace("+00:00", "Z")


def _git(directory: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def provenance(directory: Path) -> dict[str, str]:
    """created, and revision/source when ``directory`` is in a git checkout with a remote."""
    labels = {f"{OCI}created": created()}
    if revision := _git(directory, "rev-parse", "HEAD"):
        labels[f"{OCI}revision"] = revision
    if source := _git(directory, "remote", "get-url", "origin"):
        labels[f"{OCI}source"] = source
    return labels
