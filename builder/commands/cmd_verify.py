"""`rpbuild verify REF`: check a published image's signature, SBOM and labels in its registry."""

from __future__ import annotations

import json

import click

from builder.commands.cmd_push import json_option, login_options
from builder.errors import RpbuildError
from builder.registry.publish import PublishOptions
from builder.registry.reference import parse_ref
from builder.registry.signing import Verifier
from builder.registry.trust import verify_published


@click.command()
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
def verify(
    ref: str,
    key: str | None,
    certificate_identity: str | None,
    certificate_oidc_issuer: str | None,
    publish_options: PublishOptions,
    as_json: bool,
) -> None:
    """Check REF in its registry, without pulling it: cosign signature, SBOM attestation,
    and its labels against its tag, platform and SBOM. Exit 1 when anything fails."""
    keyless = (certificate_identity, certificate_oidc_issuer)
    if (key is None) == (None in keyless):
        raise click.UsageError(
            "give --key PUB, or (keyless) --certificate-identity and --certificate-oidc-issuer"
        )
    verifier = Verifier(key) if key else Verifier(None, *map(str, keyless))
    image = parse_ref(ref)
    try:
        with publish_options.tool_env([image]) as env:
            report = verify_published(
                image, verifier, publish_options.credentials(image.registry), env
            )
    except RpbuildError as error:
        if as_json:
            click.echo(json.dumps({"ok": False, **error.details()}))
        raise
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    for each in report.images:
        click.echo(f"{each.platform or 'image'} {each.digest}: signed, SBOM attested")
        for check in each.checks:
            click.echo(f"  {check.name}: {check.actual}")
    click.echo(f"verified {report.ref}@{report.digest}")
