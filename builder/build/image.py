"""``rpbuild image`` as a library: plan (pure), then build, then verify.

Without a handler the plan is one GPU base image; with one, the base it needs and the
app image FROM it. The final image gets the GPU requirements, system packages and a
user template. The CLI, the image matrix and the bake file all call ``plan``, with the spec
:func:`builder.build.options.resolve_spec` resolved once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from builder import engine
from builder.build import (
    compat,
    labels,
    render,
    runtime_wheel,
    sdk_migration,
    tags,
    verify,
    weights,
)
from builder.build.context import AppSource, app_context, base_context
from builder.build.option_checks import check_options
from builder.build.spec import BaseSpec, ImageOptions
from builder.errors import InputError, Source, flag

DEFAULT_HANDLER = "handler.py"
DEFAULT_REQUIREMENTS = "requirements.txt"
RUNTIME_WHEEL = runtime_wheel.WHEEL_NAME
LEFT_OUT_REASON = "looks like a credential (list it under include: in rpbuild.yaml to keep it)"


@dataclass(frozen=True)
class ImageStep:
    """One image to build: its kind (base or app), Dockerfile text, tags, and the files
    rpbuild generates into its build context (name, text)."""

    kind: str
    dockerfile: str
    tags: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tags": list(self.tags), "dockerfile": self.dockerfile}


@dataclass(frozen=True)
class Plan:
    spec: BaseSpec
    base: ImageStep
    app: ImageStep | None
    source: AppSource | None

    @property
    def steps(self) -> tuple[ImageStep, ...]:
        return (self.base, self.app) if self.app else (self.base,)


@dataclass
class BuiltImage:
    kind: str
    tags: tuple[str, ...]
    id: str
    labels: dict[str, str]
    verify: verify.VerifyResult | None = None
    layers: tuple[engine.Layer, ...] = ()

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tags": list(self.tags),
            "id": self.id,
            "labels": self.labels,
            "verify": self.verify.as_dict() if self.verify else None,
            "size": self.size,
            "layers": [{"size": x.size, "created_by": x.created_by} for x in self.layers],
        }


@dataclass
class BuildResult:
    """``tags`` name the result; a multi-platform build has no local image under them:
    ``platforms`` maps each platform to its image's local tags, and a push assembles the
    list."""

    spec: BaseSpec
    images: list[BuiltImage] = field(default_factory=list)
    tags: tuple[str, ...] = ()
    platforms: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"images": [image.as_dict() for image in self.images]}
        if self.platforms:
            found["platforms"] = {name: list(tags) for name, tags in self.platforms.items()}
        return found


def find_app(options: ImageOptions) -> AppSource | None:
    """The handler directory, if there is a handler; validates the paths given."""
    directory = options.directory
    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory", Source("DIR"))
    handler = options.handler
    if handler is None:
        if not (directory / DEFAULT_HANDLER).is_file():
            return None
        handler = directory / DEFAULT_HANDLER
    if not handler.is_file():
        raise InputError(f"{handler} is not a file", flag("handler"))
    handler = handler.resolve()
    root = directory.resolve()
    requirements = options.requirements
    if requirements is not None and not requirements.is_file():
        raise InputError(f"{requirements} is not a file", flag("requirements"))
    if requirements is None and (root / DEFAULT_REQUIREMENTS).is_file():
        requirements = root / DEFAULT_REQUIREMENTS
    install = sdk_migration.app_requirements(root, requirements, options.runpod_sdk)
    relative = handler.relative_to(root).as_posix()
    return AppSource(root, relative, requirements, options.include, install)


def plan(options: ImageOptions, spec: BaseSpec) -> Plan:
    """Render everything for ``spec`` (resolved from ``options``, its base perhaps pinned
    to a digest); touches no engine, builds nothing. Options made without
    :func:`~builder.build.options.resolve_options` get their values checked here.

    Several platforms get one Dockerfile for all (the bake file's), each architecture
    with its own NVIDIA_REQUIRE_CUDA; ``platform_plans`` plans one image per platform."""
    check_options(options)
    source = find_app(options)
    ca_bundle, pip_conf = options.ca_bundle is not None, "pip_conf" in options.secret_ids()
    version = tags.axes(spec)
    suffix = tags.arch_suffix(options.platform)
    base_tags: tuple[str, ...] = (
        tags.base_tag(spec, None if source else options.repository) + suffix,
    )
    if source is None and options.tags:
        base_tags = options.tags
    base_input = render.base_input(
        spec,
        labels=labels.base_labels(spec, version),
        runtime_wheel=RUNTIME_WHEEL,
        require_cuda_by_arch=compat.require_cuda_by_arch(spec, tags.platforms(options.platform)),
        ca_bundle=ca_bundle,
        pip_conf=pip_conf,
    )
    manifest = weights.runtime_manifest(options.weights)
    files = ((weights.MANIFEST_FILE, manifest),) if manifest else ()
    if source is None:
        text = render.render(render.BASE_TEMPLATE, _final(base_input, options), options.template)
        return Plan(spec, ImageStep("base", text, base_tags, files), None, None)
    base = ImageStep("base", render.render(render.BASE_TEMPLATE, base_input), base_tags)
    title = tags.repository_name(source.directory.name)
    app_tags = options.tags or (tags.app_tag(spec, options.repository or title) + suffix,)
    app_input = render.RenderInput(
        from_ref=base_tags[0],
        labels=labels.app_labels(base_tags[0], title, version),
        handler_file=source.handler_file,
        has_requirements=source.requirements_text() is not None,
        ca_bundle=ca_bundle,
        pip_conf=pip_conf,
    )
    app_text = render.render(render.APP_TEMPLATE, _final(app_input, options), options.template)
    return Plan(spec, base, ImageStep("app", app_text, app_tags, files), source)


def _final(data: render.RenderInput, options: ImageOptions) -> render.RenderInput:
    """The last image built carries the GPU requirements, extra system packages, user,
    the project's weights and build steps."""
    manifest = weights.runtime_manifest(options.weights)
    return replace(
        data,
        system_packages=options.system_packages,
        gpu_env=options.gpu.env(),
        user=options.user or "",
        weights_steps=weights.fetch_steps(options.weights),
        hub=weights.uses_hub(options.weights),
        runtime_weights=weights.MANIFEST_FILE if manifest else "",
        run_steps=options.run_steps,
    )


def _build_inputs(options: ImageOptions) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Secrets and build args of every build: the user's, the CA bundle, the hub's settings."""
    bundle = () if options.ca_bundle is None else (f"id=ca_bundle,src={options.ca_bundle}",)
    hub_secrets, hub_args = weights.hub_build_inputs(
        options.weights, options.secret_ids(), options.build_args
    )
    return (*options.secrets, *bundle, *hub_secrets), (*options.build_args, *hub_args)


def platform_plans(
    options: ImageOptions, spec: BaseSpec
) -> tuple[tuple[str, ...], list[tuple[ImageOptions, Plan]]]:
    """The result's tags, and one plan per platform (the engine's own when none is named).

    With several platforms (the ``docker`` driver builds one at a time) each image gets
    its own local tags, ``TAG-ARCH``; pushing them assembles the list under ``TAG``.
    """
    wanted = tags.platforms(options.platform)
    if len(wanted) < 2:
        single = plan(options, spec)
        return single.steps[-1].tags, [(options, single)]
    final = options.tags or plan(replace(options, platform=None), spec).steps[-1].tags
    plans = []
    for platform in wanted:
        each = replace(
            options, platform=platform, tags=tuple(tags.for_platform(t, platform) for t in final)
        )
        plans.append((each, plan(each, compat.for_platform(spec, platform))))
    return final, plans


def build(options: ImageOptions, spec: BaseSpec, sink: Callable[[str], None]) -> BuildResult:
    """Build each platform's images in order, verifying each unless ``options.verify`` is off.

    Only the final image gets the provenance labels: a base built on the way to an app
    stays byte-identical while its inputs do, so the app's layers stay cached.
    """
    final, plans = platform_plans(options, spec)
    builder = engine.find_builder(context=options.context, buildx_builder=options.builder)
    engine.check_engine(builder)
    wheel = runtime_wheel.locate()
    provenance = labels.provenance(options.directory)
    result = BuildResult(plans[0][1].spec, tags=final)
    first = plans[0][1]
    if first.source is not None and first.source.install is not None:
        for note in first.source.install.notes:
            sink(f"rpbuild: {note}")
    for each, the_plan in plans:
        result.images += _build_plan(builder, each, the_plan, wheel, provenance, sink)
    if len(plans) > 1:
        result.platforms = {str(each.platform): p.steps[-1].tags for each, p in plans}
    return result


def _build_plan(
    builder: engine.Builder,
    options: ImageOptions,
    the_plan: Plan,
    wheel: Path,
    provenance: dict[str, str],
    sink: Callable[[str], None],
) -> list[BuiltImage]:
    built_images = []
    secrets, build_args = _build_inputs(options)
    with tempfile.TemporaryDirectory(prefix="rpbuild-ctx-") as tmp:
        base_context(Path(tmp) / "base", wheel, the_plan.base.dockerfile, RUNTIME_WHEEL)
        if the_plan.app is not None:
            assert the_plan.source is not None
            app = app_context(Path(tmp) / "app", the_plan.source, the_plan.app.dockerfile)
            for path in app.left_out:
                sink(f"rpbuild: left out {path}: {LEFT_OUT_REASON}")
        for step in the_plan.steps:
            root = Path(tmp) / step.kind
            for name, text in step.files:
                (root / name).write_text(text, encoding="utf-8")
            platform = f", {options.platform}" if options.platform else ""
            sink(
                f"rpbuild: building the {step.kind} image {step.tags[0]} ({builder.kind}{platform})"
            )
            image_id = engine.build(
                builder,
                engine.BuildRequest(
                    context=root,
                    dockerfile=root / "Dockerfile",
                    tags=step.tags,
                    labels=provenance if step is the_plan.steps[-1] else {},
                    build_args=build_args,
                    secrets=secrets,
                    platform=options.platform,
                    network=options.network,
                    no_cache=options.no_cache,
                    cache_from=options.cache_from,
                    cache_to=options.cache_to,
                ),
                sink,
            )
            info = engine.inspect(builder, image_id)
            built = BuiltImage(
                step.kind, step.tags, image_id, info.labels, layers=engine.layers(builder, image_id)
            )
            if options.verify:
                sink(f"rpbuild: verifying {step.tags[0]}")
                built.verify = verify.verify(
                    builder, step.tags[0], info, the_plan.spec, options.platform
                )
            built_images.append(built)
    return built_images
