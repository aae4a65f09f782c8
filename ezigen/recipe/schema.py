"""Recipe validation: plain data -> :class:`Recipe`, collecting every problem.

A recipe's sections (DESIGN §5):

- component sections ``backbone``, ``subject_encoder``, ``fusion``, ``guidance`` and
  ``refinement.stop``: ``type:`` (a registry name) plus that component's own config fields, flat;
- ``sampling`` and ``refinement`` (null = single pass), ``training`` and ``editing`` (optional;
  ``editing`` is read by ``System.edit``, spec §4.4): fixed schemas;
- ``recipe: 1`` (schema version), ``name``, ``description``, ``requires`` (plugin -> version spec);
  ``extends`` is resolved by the loader before validation.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from ezigen.config import in_range, setting, structure, to_plain, unstructure
from ezigen.editing.config import EditingConfig
from ezigen.errors import Problem, RecipeError
from ezigen.registry import did_you_mean
from ezigen.sampling.refinement import RefinementConfig
from ezigen.training.config import TrainingConfig

SCHEMA_VERSION = 1
TOP_LEVEL = ("recipe", "name", "description", "extends", "requires", "backbone", "subject_encoder", "fusion",
             "guidance", "sampling", "refinement", "training", "editing")
# section -> (registry kind, default type or None when `type` is required)
COMPONENT_SECTIONS = {
    "backbone": ("backbones", "stable-diffusion"),
    "subject_encoder": ("subject_encoders", None),
    "fusion": ("fusions", None),
    "guidance": ("guidance_schedules", "constant"),
}
STOP_SECTION = ("stop_criteria", "clip-similarity")


def _folder_or_absent(_inst: Any, _attribute: Any, value: str | None) -> None:
    """A cache folder that exists must be a folder (``/dev/null`` validated, then crashed the run)."""
    import os

    if value is not None and os.path.exists(value) and not os.path.isdir(value):
        raise ValueError(f"{value!r} exists and is not a folder; give a folder (created if missing) or null")


class AutocastDtype(enum.Enum):
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"


@attrs.frozen
class SamplingConfig:
    steps: int = setting(50, doc="Denoising steps T.", validator=in_range(1, 1000))
    seed: int = setting(0, doc="Seed of the CPU generator all noise is drawn from (diffusers semantics).",
                        validator=in_range(0, 2**63 - 1))
    num_images: int = setting(1, doc="Images per prompt.", validator=in_range(1, 64))
    feature_cache: str | None = setting(
        None, doc="A folder for the content-addressed subject-feature cache shared by processes and runs "
        "(EZIGEN_FEATURE_CACHE also sets it); null = in memory only.", validator=_folder_or_absent)
    autocast: AutocastDtype | None = setting(
        None, doc="Run subject encoding, denoising and refinement under torch.autocast(device, dtype) over the "
        "weights' own dtype, as the release runs inference under torch.autocast('cuda') (float16); null = no autocast "
        "(float32 numerics, ezigen's default). On CPU only bfloat16 is fast.")


@attrs.frozen(eq=False)
class ComponentSpec:
    """A resolved component section: registry name, class, its config and the plugin that registered it."""

    section: str
    type: str
    cls: Any
    config: Any
    plugin: str

    def build(self, *args: Any, **kwargs: Any) -> Any:
        return self.cls.from_config(self.config, *args, **kwargs)

    def to_data(self) -> dict[str, Any]:
        return {"type": self.type, **unstructure(self.config)}


@attrs.frozen(eq=False)
class RefinementSpec:
    config: RefinementConfig
    stop: ComponentSpec

    def to_data(self) -> dict[str, Any]:
        return {**unstructure(self.config), "stop": self.stop.to_data()}


@attrs.frozen(eq=False)
class Recipe:
    """A validated recipe: what ``build_system`` builds and what every run writes as ``recipe.yaml``."""

    name: str
    description: str
    source: str | None
    backbone: ComponentSpec
    subject_encoder: ComponentSpec | None
    fusion: ComponentSpec | None
    guidance: ComponentSpec
    sampling: SamplingConfig
    refinement: RefinementSpec | None
    training: TrainingConfig | None
    requires: dict[str, str]
    editing: EditingConfig | None = None

    def to_data(self) -> dict[str, Any]:
        """The fully resolved recipe (every default filled in), as plain data."""
        data: dict[str, Any] = {"recipe": SCHEMA_VERSION, "name": self.name, "description": self.description}
        if self.requires:
            data["requires"] = dict(self.requires)
        data["backbone"] = self.backbone.to_data()
        data["subject_encoder"] = self.subject_encoder.to_data() if self.subject_encoder else None
        data["fusion"] = self.fusion.to_data() if self.fusion else None
        data["guidance"] = self.guidance.to_data()
        data["sampling"] = unstructure(self.sampling)
        data["refinement"] = self.refinement.to_data() if self.refinement else None
        if self.training is not None:
            data["training"] = unstructure(self.training)
        if self.editing is not None:
            data["editing"] = unstructure(self.editing)
        return to_plain(data)


def _locator(data: Any):
    def location(path: str, key: str) -> str | None:
        node = data
        for part in [p for p in path.split(".") if p]:
            node = node.get(part) if isinstance(node, dict) else None
        locations = getattr(node, "locations", None)
        return locations.get(key) if locations else None

    return location


def validate(data: Any, components: Any, source: str | None = None) -> Recipe:
    """Check ``data`` (plain recipe data, ``extends`` already merged) and build a :class:`Recipe`."""
    if data is None:
        raise RecipeError([Problem("", "the recipe is empty; expected a mapping with at least a backbone section")], source)
    if not isinstance(data, dict):
        raise RecipeError([Problem("", f"the top level must be a mapping of sections, got {type(data).__name__}")], source)
    where = _locator(data)
    problems: list[Problem] = []
    for key in data:
        if key not in TOP_LEVEL:
            guess = did_you_mean(str(key), list(TOP_LEVEL))
            hint = f"did you mean {guess!r}?" if guess else f"known sections: {', '.join(TOP_LEVEL)}"
            problems.append(Problem(str(key), "unknown section", hint, where("", key)))

    version = data.get("recipe", SCHEMA_VERSION)
    if version != SCHEMA_VERSION or isinstance(version, bool):
        problems.append(Problem("recipe", f"unsupported schema version {version!r}", f"expected {SCHEMA_VERSION}",
                                where("", "recipe")))
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            problems.append(Problem(key, f"expected a string, got {data[key]!r}", None, where("", key)))
    requires = data.get("requires") or {}
    if not isinstance(requires, dict) or not all(isinstance(v, str) for v in requires.values()):
        problems.append(Problem("requires", "expected a mapping of plugin name -> version specifier, e.g. {ezigen: '>=0.1'}"))
        requires = {}

    specs: dict[str, ComponentSpec | None] = {}
    for section, (kind, default_type) in COMPONENT_SECTIONS.items():
        value = data.get(section, {} if default_type else None)
        if value is None:
            if default_type is not None and section in data:
                problems.append(Problem(section, "cannot be null", f"give at least type: {default_type}", where("", section)))
            specs[section] = None
            continue
        specs[section] = _component(section, value, kind, default_type, components, problems, where)

    if (specs["subject_encoder"] is None) != (specs["fusion"] is None):
        missing = "fusion" if specs["fusion"] is None else "subject_encoder"
        if not any(p.path.startswith(("subject_encoder", "fusion")) for p in problems):
            problems.append(Problem(missing, "missing: a subject_encoder and a fusion go together "
                                    "(both set for subject-driven recipes, both null for text-only ones)"))

    sampling, sampling_problems = structure(SamplingConfig, data.get("sampling"), "sampling", where)
    problems += sampling_problems

    refinement = None
    raw_refinement = data.get("refinement")
    if raw_refinement is not None:
        if not isinstance(raw_refinement, dict):
            problems.append(Problem("refinement", f"expected a mapping or null, got {raw_refinement!r}", None,
                                    where("", "refinement")))
        else:
            fields = {k: v for k, v in raw_refinement.items() if k != "stop"}
            config, refinement_problems = structure(RefinementConfig, fields, "refinement", where)
            problems += refinement_problems
            stop = _component("refinement.stop", raw_refinement.get("stop") or {}, STOP_SECTION[0], STOP_SECTION[1],
                              components, problems, where)
            if config is not None and stop is not None:
                refinement = RefinementSpec(config, stop)
            if specs["fusion"] is None and specs["subject_encoder"] is None:
                problems.append(Problem("refinement", "iterative appearance transfer needs a subject path "
                                        "(subject_encoder and fusion)", "set refinement: null for text-only recipes",
                                        where("", "refinement")))

    training = None
    if data.get("training") is not None:
        training, training_problems = structure(TrainingConfig, data["training"], "training", where)
        problems += training_problems

    editing = None
    if data.get("editing") is not None:
        editing, editing_problems = structure(EditingConfig, data["editing"], "editing", where)
        problems += editing_problems

    if problems:
        raise RecipeError(problems, source)
    return Recipe(
        name=data.get("name") or _name_from_path(source),
        description=data.get("description", ""),
        source=source,
        backbone=specs["backbone"],
        subject_encoder=specs["subject_encoder"],
        fusion=specs["fusion"],
        guidance=specs["guidance"],
        sampling=sampling,
        refinement=refinement,
        training=training,
        requires=dict(requires),
        editing=editing,
    )


def _hint_missing_type(problem: Problem, section: str, default: str, registry: Any) -> Problem:
    """For a key the default type lacks: say the type was assumed, and which types have that key."""
    key = problem.path.rsplit(".", 1)[-1]
    owners = [name for name in registry.names() if name != default
              and key in attrs.fields_dict(registry.get(name).config_class)]
    if problem.message != "unknown key" or not owners:
        return problem
    hint = f"no {section}.type given, so {default!r} was assumed; {', '.join(owners)} has this key"
    return attrs.evolve(problem, suggestion=hint)


def _name_from_path(source: str | None) -> str:
    import os

    return os.path.splitext(os.path.basename(source))[0] if source else "recipe"


def _component(section: str, value: Any, kind: str, default_type: str | None, components: Any,
               problems: list[Problem], where) -> ComponentSpec | None:
    if not isinstance(value, dict):
        problems.append(Problem(section, f"expected a mapping with a type, got {value!r}"))
        return None
    registry = components.registry(kind)
    type_name = value.get("type", default_type)
    if type_name is None or not isinstance(type_name, str):
        what = "missing" if type_name is None else f"expected a {registry.kind} name, got {type_name!r}"
        problems.append(Problem(f"{section}.type", what, f"one of: {', '.join(registry.names())}"))
        return None
    parent, _, key = f"{section}.type".rpartition(".")
    broken = components.broken_message(kind, type_name)
    if broken is not None:
        problems.append(Problem(f"{section}.type", broken, None, where(parent, key)))
        return None
    if type_name not in registry:
        guess = did_you_mean(str(type_name), registry.names())
        hint = (f"did you mean {guess!r}? " if guess else "") + f"registered: {', '.join(registry.names())}"
        failures = components.failure_hint()
        hint += f"; {failures}" if failures else ""
        problems.append(Problem(f"{section}.type", f"unknown {registry.kind} {type_name!r}", hint, where(parent, key)))
        return None
    entry = registry.entry(type_name)
    fields = {k: v for k, v in value.items() if k != "type"}
    config, found = structure(entry.value.config_class, fields, section, where)
    if "type" not in value:
        found = [_hint_missing_type(p, section, type_name, registry) for p in found]
    problems += found
    if config is None:
        return None
    return ComponentSpec(section=section, type=type_name, cls=entry.value, config=config, plugin=entry.plugin)
