"""Sign pushed digests and attach SBOMs with cosign; verify both from the registry alone.

cosign stores signatures and attestations next to the image in the registry, so anyone
with the public key (or, keyless, the signer's identity) can check an image without
pulling it. Key-based signatures are checked against the key alone: nothing goes to a
transparency log, so they work offline and on private registries. Keyless signing
(``--sign keyless``) uses the identity the CI provides (GitHub's OIDC token) and the
public Sigstore services.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.errors import RpbuildError
from builder.registry.client import is_loopback
from builder.registry.reference import ImageRef

KEYLESS = "keyless"
COSIGN_TIMEOUT = 300


class SigningError(RpbuildError):
    """cosign is missing, or could not sign or attest a digest."""


class SignatureInvalidError(RpbuildError):
    """A digest has no signature or SBOM that the given key or identity verifies."""


@dataclass(frozen=True)
class Verifier:
    """Who must have signed: a public key, or (keyless) a certificate identity and issuer."""

    key: str | None = None
    identity: str = ""
    issuer: str = ""

    def flags(self) -> list[str]:
        if self.key is not None:
            return ["--key", self.key, "--insecure-ignore-tlog=true"]
        return [
            "--certificate-identity",
            self.identity,
            "--certificate-oidc-issuer",
            self.issuer,
        ]


def cosign() -> str:
    found = shutil.which("cosign")
    if found is None:
        raise SigningError(
            "cosign is not installed: install it (Debian/Ubuntu: the cosign package; CI: "
            "sigstore/cosign-installer) to use --sign or rpbuild verify"
        )
    return found


def _registry_flags(ref: ImageRef) -> list[str]:
    return (
        ["--allow-http-registry", "--allow-insecure-registry"] if is_loopback(ref.registry) else []
    )


def _run(args: Sequence[str], env: Mapping[str, str] | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [cosign(), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=COSIGN_TIMEOUT,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
    )


def _key_flags(key: str) -> list[str]:
    return [] if key == KEYLESS else ["--key", key, "--tlog-upload=false"]


def sign(ref: ImageRef, key: str, env: Mapping[str, str] | None = None) -> None:
    """Sign ``ref`` (name@digest) with a cosign key reference, or keyless."""
    done = _run(["sign", "-y", *_key_flags(key), *_registry_flags(ref), str(ref)], env)
    if done.returncode != 0:
        raise SigningError(f"cosign could not sign {ref}: {done.stderr.strip()[-800:]}")


def attest_sbom(
    ref: ImageRef, key: str, bom: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> None:
    """Attach ``bom`` to ``ref`` (name@digest) as a signed CycloneDX attestation."""
    with tempfile.TemporaryDirectory(prefix="rpbuild-sbom-") as tmp:
        predicate = Path(tmp) / "sbom.cdx.json"
        predicate.write_text(json.dumps(bom, sort_keys=True))
        args = ["attest", "-y", "--type", "cyclonedx", "--predicate", str(predicate)]
        done = _run([*args, *_key_flags(key), *_registry_flags(ref), str(ref)], env)
    if done.returncode != 0:
        raise SigningError(f"cosign could not attach the SBOM to {ref}: {done.stderr[-800:]}")


def verify_signature(
    ref: ImageRef, verifier: Verifier, env: Mapping[str, str] | None = None
) -> None:
    done = _run(["verify", *verifier.flags(), *_registry_flags(ref), str(ref)], env)
    if done.returncode != 0:
        raise SignatureInvalidError(
            f"{ref} has no valid signature: {_last_line(done.stderr)}. It was not signed with "
            "this key (or identity), or its tag was moved to an image nobody signed"
        )


def sbom(ref: ImageRef, verifier: Verifier, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The CycloneDX BOM attested for ``ref`` (name@digest), checked against ``verifier``."""
    args = ["verify-attestation", "--type", "cyclonedx", *verifier.flags()]
    done = _run([*args, *_registry_flags(ref), str(ref)], env)
    if done.returncode != 0:
        raise SignatureInvalidError(
            f"{ref} has no SBOM attestation this key (or identity) verifies: "
            f"{_last_line(done.stderr)}"
        )
    envelope = json.loads(done.stdout.strip().splitlines()[-1])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    subjects = {s.get("digest", {}).get("sha256") for s in statement.get("subject") or []}
    if ref.digest is None or ref.digest.removeprefix("sha256:") not in subjects:
        raise SignatureInvalidError(f"the SBOM attested for {ref} names another image")
    predicate: dict[str, Any] = statement.get("predicate") or {}
    return predicate


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
