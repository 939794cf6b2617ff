"""`rpbuild verify REF`: check a published image's signature, SBOM and labels in its registry."""

from __future__ import annotations

import click

from builder.commands.base import Command, json_option, pass_output
from builder.commands.options import login_options
from builder.errors import InputError
from builder.output import Output
from builder.registry.publish import PublishOptions
from builder.registry.reference import parse_ref
from builder.registry.signing import Verifier
from builder.registry.trust import verify_published


@click.command("verify", cls=Command)
@click.argument("ref", metavar="REF")
@click.option("--key", metavar="PUB", help="The cosign public key it must be signed with.")
@click.option(
    "--certificate-identity",
    metavar="ID",
    help="Keyless: the signer identity, e.g. the workflow's https://github.com/OWNER/REPO/"
    ".github/workflows/publish.yml@refs/tags/v1",
)
@click.option(
    "--certificate-oidc-issuer",
    metavar="URL",
    help="Keyless: the identity's issuer, e.g. https://token.actions.githubusercontent.com",
)
@login_options
@json_option
@pass_output
def verify(
    out: Output,
    ref: str,
    key: str | None,
    certificate_identity: str | None,
    certificate_oidc_issuer: str | None,
    publish_options: PublishOptions,
) -> None:
    """Check REF in its registry, without pulling it: cosign signature, SBOM attestation,
    and its labels against its tag, platform and SBOM. Exit 1 when anything fails."""
    if certificate_identity and certificate_oidc_issuer and key is None:
        verifier = Verifier(None, certificate_identity, certificate_oidc_issuer)
    elif key is not None and not (certificate_identity or certificate_oidc_issuer):
        verifier = Verifier(key)
    else:
        raise InputError(
            "give --key PUB, or (keyless) --certificate-identity and --certificate-oidc-issuer"
        )
    image = parse_ref(ref)
    with publish_options.tool_env([image]) as env:
        report = verify_published(image, verifier, publish_options.credentials(image.registry), env)
    lines = []
    for each in report.images:
        lines.append(f"{each.platform or 'image'} {each.digest}: signed, SBOM attested")
        lines += [f"  {check.name}: {check.actual}" for check in each.checks]
    lines.append(f"verified {report.ref}@{report.digest}")
    out.result(report.as_dict(), "\n".join(lines))
