"""Generator metadata: what image-generation tools write about their own output.

Local Stable Diffusion front-ends save the whole generation record next to the
pixels: AUTOMATIC1111 (and Forge, SD.Next) a ``parameters`` text ending in
``Steps: 20, Sampler: ..., Seed: ...``; ComfyUI its node graph as ``prompt`` and
``workflow`` JSON; InvokeAI ``invokeai_metadata``; NovelAI a ``Comment`` JSON;
Fooocus, SwarmUI and Draw Things a JSON parameter block. Such a record is
strong evidence: a camera or photo editor never writes one. Hosted services
and apps often name themselves in EXIF ``Software`` or XMP ``xmp:CreatorTool``;
a known generator named there is moderate evidence (the tool may only have
upscaled or edited), and only names of generators count: Photoshop, GIMP or a
phone's camera app are never evidence.

Each recogniser is a small function registered in :data:`RECOGNISERS`; the
evidence sentence names the tool, where the record was found and a few
technical fields, never the prompt (prompts may be sexual or name a person).
All of this is unsigned text that is easy to strip or forge; its absence means
nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jikimi.detectors.synthetic.base import Checker, clean_text
from jikimi.detectors.synthetic.xmp import xmp_packet, xmp_properties
from jikimi.domain import Evidence, EvidenceKind, Strength
from jikimi.media.picture import Metadata, Picture

MAX_JSON_CHARS: Final = 8 * 1024 * 1024
"""Larger JSON texts are not parsed (a big ComfyUI workflow is well below 1 MB)."""


@dataclass(frozen=True)
class Field:
    """A metadata value and a human name for where it was found."""

    where: str
    value: str


@dataclass(frozen=True)
class Finding:
    """What a recogniser concluded; becomes an :class:`Evidence`."""

    strength: Strength
    detail: str


Recogniser = Callable[[Metadata], Finding | None]


# --- reading metadata -----------------------------------------------------------


def _text(metadata: Metadata, key: str) -> Field | None:
    value = metadata.text.get(key)
    return Field(f"text field '{key}'", value) if value else None


def _exif(metadata: Metadata, tag: str) -> Field | None:
    value = metadata.exif.get(tag)
    return Field(f"EXIF {tag}", value) if value else None


def _xmp_fields(metadata: Metadata, *names: str) -> Iterator[Field]:
    """XMP property values whose local name is one of ``names``."""
    packet = xmp_packet(metadata)
    for prop in (xmp_properties(packet) or ()) if packet else ():
        if prop.name in names:
            yield Field(f"XMP {prop.qualified}", prop.value)


def _parameter_fields(metadata: Metadata) -> Iterator[Field]:
    """Where generators put their parameter text: PNG text, EXIF/XMP UserComment."""
    for field in (
        _text(metadata, "parameters"),
        _exif(metadata, "UserComment"),
        _text(metadata, "Comment"),
        _text(metadata, "comment"),
    ):
        if field is not None:
            yield field
    yield from _xmp_fields(metadata, "UserComment")


def _json_object(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object, or None (not JSON, too big, too deep)."""
    text = text.strip()
    if not text.startswith("{") or len(text) > MAX_JSON_CHARS:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _quote(value: Any, limit: int = 60) -> str:
    return f"'{clean_text(str(value), limit)}'"


def _summary(pairs: Mapping[str, Any], wanted: Mapping[str, str]) -> str:
    """``" (Steps 20, Sampler 'Euler a')"`` from the wanted keys present in ``pairs``."""
    parts = []
    for key, label in wanted.items():
        value = pairs.get(key)
        if value is None or value == "" or isinstance(value, dict | list):
            continue
        shown = clean_text(str(value), 60)
        bare = re.fullmatch(r"[\d.x]+", shown)  # numbers and sizes
        parts.append(f"{label} {shown}" if bare else f"{label} '{shown}'")
    return f" ({', '.join(parts)})" if parts else ""


# --- AUTOMATIC1111 and compatible (Forge, SD.Next, ...) ----------------------------

# The last line: "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, ..."
_A1111_LINE: Final = re.compile(r"(?m)^Steps: \d+, .*$")
# A1111's own ``re_param`` (key, then a quoted or unquoted value up to a comma),
# with the key's length bounded so a hostile line cannot make it backtrack for long.
_A1111_PARAM: Final = re.compile(r'\s*(\w[\w \-/]{0,60}):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_A1111_MAX_LINE: Final = 8_000
"""Longer parameter lines are cut (real ones, LoRA hashes included, are far shorter)."""
_A1111_KEYS: Final = frozenset({"Sampler", "CFG scale", "Seed", "Size", "Model hash", "Model"})
_A1111_SHOWN: Final = {
    "Steps": "Steps",
    "Sampler": "Sampler",
    "Size": "Size",
    "Model": "Model",
    "Denoising strength": "Denoising strength",
    "Version": "Version",
}


def automatic1111(metadata: Metadata) -> Finding | None:
    """AUTOMATIC1111-format ``parameters``: a ``Steps: N, Sampler: ...`` line."""
    for field in _parameter_fields(metadata):
        match = _A1111_LINE.search(field.value[-20_000:])
        if match is None:
            continue
        line = match.group()[:_A1111_MAX_LINE]
        params = {k.strip(): v.strip().strip('"') for k, v in _A1111_PARAM.findall(line)}
        if len(_A1111_KEYS & params.keys()) >= 2:
            return Finding(
                Strength.STRONG,
                f"AUTOMATIC1111-format generation parameters in {field.where}"
                + _summary(params, _A1111_SHOWN),
            )
    return None


# --- ComfyUI -------------------------------------------------------------------------

_FACE_NODE: Final = re.compile(r"faceswap|reactor|roop|instantid|pulid|faceid", re.IGNORECASE)


_COMFY_PREFIX: Final = re.compile(r"\s{0,8}(prompt|workflow)\s{0,8}:\s{0,8}(?=\{)", re.IGNORECASE)
"""``prompt:{...}`` (ComfyUI's WebP EXIF) or ``Prompt: {...}`` (save-image-extended's JPEG)."""

_COMFY_TAGS: Final = ("Make", "Model", "ImageDescription", "UserComment", "Artist", "Copyright")
"""EXIF tags where ComfyUI and its third-party save nodes put a graph."""


def _comfy_graphs(metadata: Metadata) -> Iterator[tuple[Field, Any]]:
    """Every place a ComfyUI graph may be, with the parsed (or still textual) graph.

    - PNG text ``prompt`` / ``workflow`` (ComfyUI's own SaveImage);
    - EXIF tags ``prompt:{...}`` / ``workflow:{...}`` (ComfyUI's WebP: Make, Model;
      save-image-extended's JPEG: ImageDescription ``Workflow: {...}``, Make
      ``Prompt: {...}``), in any case, with or without a space;
    - a JSON envelope ``{"prompt": ..., "workflow": ...}`` in EXIF UserComment or
      a parameters text (SaveImage+ and other JPEG/WebP savers).
    """
    for key in ("prompt", "workflow"):
        field = _text(metadata, key)
        if field is not None:
            yield field, field.value
    for tag in _COMFY_TAGS:
        field = _exif(metadata, tag)
        match = _COMFY_PREFIX.match(field.value) if field is not None else None
        if field is not None and match is not None:
            yield field, field.value[match.end() :]
    for field in (*_parameter_fields(metadata), _exif(metadata, "ImageDescription")):
        envelope = _json_object(field.value) if field is not None else None
        if field is None or envelope is None:
            continue
        for key in ("prompt", "workflow"):
            part = envelope.get(key)
            if isinstance(part, dict | str):
                yield field, part


def _comfy_nodes(metadata: Metadata) -> tuple[list[Field], list[dict[str, Any]]]:
    """ComfyUI graphs found by :func:`_comfy_graphs`.

    Returns the fields that hold a graph and the nodes to describe: those of the
    API graph when there is one (it carries the inputs: model names), else the
    UI graph's.
    """
    fields: list[Field] = []
    api: list[dict[str, Any]] = []
    workflow: list[dict[str, Any]] = []
    for field, value in _comfy_graphs(metadata):
        graph = value if isinstance(value, dict) else _json_object(value)
        if graph is None:
            continue
        found_api, found_workflow = _api_nodes(graph), _workflow_nodes(graph)
        if found_api or found_workflow:
            if field not in fields:
                fields.append(field)
            api = api or found_api
            workflow = workflow or found_workflow
    return fields, api or workflow


def _api_nodes(graph: dict[str, Any]) -> list[dict[str, Any]]:
    """Nodes of the API-format ``prompt``: ``{"3": {"class_type": ..., "inputs": {...}}}``."""
    return [
        {"type": node["class_type"], "inputs": node.get("inputs") or {}}
        for node in graph.values()
        if isinstance(node, dict) and isinstance(node.get("class_type"), str)
    ]


def _workflow_nodes(graph: dict[str, Any]) -> list[dict[str, Any]]:
    """Nodes of the UI-format ``workflow``: ``{"nodes": [{"type": ...}], "links": [...]}``."""
    nodes = graph.get("nodes")
    if not isinstance(nodes, list) or "links" not in graph:
        return []
    return [
        {"type": node["type"], "inputs": {}}
        for node in nodes
        if isinstance(node, dict) and isinstance(node.get("type"), str)
    ]


def comfyui(metadata: Metadata) -> Finding | None:
    """A ComfyUI node graph; strong if it samples, moderate if it only processes."""
    fields, nodes = _comfy_nodes(metadata)
    if not nodes:
        return None
    types = [str(n["type"]) for n in nodes]
    samplers = sorted({t for t in types if "sampler" in t.lower()})
    faces = sorted({t for t in types if _FACE_NODE.search(t)})
    checkpoints = sorted(
        {
            str(value)
            for n in nodes
            if isinstance(n["inputs"], dict)
            for key, value in n["inputs"].items()
            if key in ("ckpt_name", "unet_name") and isinstance(value, str)
        }
    )
    parts = [f"{len(nodes)} nodes"]
    if samplers:
        parts.append("sampler " + ", ".join(_quote(s, 40) for s in samplers[:2]))
    if checkpoints:
        parts.append("model " + ", ".join(_quote(c, 60) for c in checkpoints[:2]))
    if "LoadImage" in types and samplers:
        parts.append("edits a loaded image")
    if faces:
        parts.append("face-swap node " + ", ".join(_quote(f, 40) for f in faces[:2]))
    where = " and ".join(f.where for f in fields)
    kind = "generation graph" if samplers or faces else "processing graph without a sampler"
    strength = Strength.STRONG if samplers or faces else Strength.MODERATE
    return Finding(strength, f"ComfyUI {kind} in {where} ({', '.join(parts)})")


# --- InvokeAI ------------------------------------------------------------------------

_INVOKE_KEYS: Final = ("invokeai_metadata", "invokeai_graph", "invokeai_workflow", "sd-metadata")
_DREAM_STEPS: Final = re.compile(r"\s-s\s{0,5}\d+")
_DREAM_SEED: Final = re.compile(r"\s-S\s{0,5}\d+")


def invokeai(metadata: Metadata) -> Finding | None:
    """InvokeAI: ``invokeai_metadata`` (v3+), ``sd-metadata`` (v2) or ``Dream`` (v1)."""
    for key in _INVOKE_KEYS:
        field = _text(metadata, key)
        data = _json_object(field.value) if field is not None else None
        if field is None or data is None:
            continue
        image = data.get("image")
        flat = {**data, **image} if isinstance(image, dict) else data
        model = flat.get("model")
        if isinstance(model, dict):
            flat = {**flat, "model": model.get("name") or model.get("model_name")}
        shown = {
            "generation_mode": "mode",
            "model": "model",
            "steps": "steps",
            "app_version": "version",
        }
        return Finding(
            Strength.STRONG,
            f"InvokeAI generation metadata in {field.where}" + _summary(flat, shown),
        )
    dream = _text(metadata, "Dream")
    if dream is not None and _DREAM_STEPS.search(dream.value) and _DREAM_SEED.search(dream.value):
        return Finding(Strength.STRONG, f"InvokeAI (Dream) generation command in {dream.where}")
    return None


# --- NovelAI -------------------------------------------------------------------------

_NOVELAI_KEYS: Final = frozenset({"uc", "noise_schedule", "signed_hash", "n_samples"})


def novelai(metadata: Metadata) -> Finding | None:
    """NovelAI: ``Software: NovelAI`` with ``Source`` and a ``Comment`` JSON."""
    # PNG text chunks; the WebP export puts the same in EXIF Software / UserComment.
    software = _text(metadata, "Software") or _exif(metadata, "Software")
    comment = _text(metadata, "Comment") or _exif(metadata, "UserComment")
    params = _json_object(comment.value) if comment is not None else None
    inner = params.get("Comment") if params is not None else None
    if isinstance(inner, str):  # the WebP's UserComment: every PNG chunk as one JSON object
        params = _json_object(inner) or params
    by_name = software is not None and software.value.strip().lower() == "novelai"
    by_params = params is not None and len(_NOVELAI_KEYS & params.keys()) >= 2
    if not (by_name or by_params):
        return None
    source = _text(metadata, "Source")
    parts = [f"Source {_quote(source.value)}"] if source is not None else []
    if params is not None:
        parts += [f"{k} {_quote(params[k], 30)}" for k in ("sampler", "steps") if k in params]
    where = " and ".join(
        f.where for f in (software if by_name else None, comment if params else None) if f
    )
    return Finding(
        Strength.STRONG,
        f"NovelAI generation metadata in {where}" + (f" ({', '.join(parts)})" if parts else ""),
    )


# --- JSON parameter blocks: Fooocus, SwarmUI, Draw Things, others -------------------

_PROMPT_KEYS: Final = frozenset({"prompt", "c", "positive_prompt", "full_prompt"})
_SETTING_KEYS: Final = frozenset(
    {
        "steps",
        "seed",
        "sampler",
        "sampler_name",
        "scheduler",
        "cfg_scale",
        "cfgscale",
        "scale",
        "guidance_scale",
        "guidance scale",
        "base model",
        "model",
        "strength",
    }
)
_JSON_SHOWN: Final = {
    "version": "version",
    "model": "model",
    "base model": "model",
    "sampler": "sampler",
    "sampler_name": "sampler",
    "steps": "steps",
}


def parameters_json(metadata: Metadata) -> Finding | None:
    """A JSON generation record: a prompt plus at least two sampler settings."""
    for field in _parameter_fields(metadata):
        data = _json_object(field.value)
        if data is None:
            continue
        swarm = data.get("sui_image_params")
        if isinstance(swarm, dict):
            data = swarm
        lowered = {str(k).lower(): v for k, v in data.items()}
        if not (_PROMPT_KEYS & lowered.keys()) or len(_SETTING_KEYS & lowered.keys()) < 2:
            continue
        if isinstance(swarm, dict):
            tool = "SwarmUI"
        elif str(lowered.get("version", "")).lower().startswith("fooocus"):
            tool = "Fooocus"
        else:
            tool = _generator_name(metadata) or "an image generator"
        return Finding(
            Strength.STRONG,
            f"Generation parameters of {tool} (JSON) in {field.where}"
            + _summary(lowered, _JSON_SHOWN),
        )
    return None


# --- Midjourney's PNG description -----------------------------------------------------

_MJ_JOB: Final = re.compile(
    r"\bJob ID: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
)


def midjourney_description(metadata: Metadata) -> Finding | None:
    """Midjourney PNGs: ``Description`` text ending in ``Job ID: <uuid>``."""
    field = _text(metadata, "Description")
    if field is None or not _MJ_JOB.search(field.value):
        return None
    return Finding(Strength.MODERATE, f"Midjourney job ID in {field.where}")


# --- a known generator named in a software field --------------------------------------

KNOWN_GENERATORS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("Midjourney", r"\bmidjourney\b"),
        ("DALL·E", r"\bdall[\s·._-]?e\b"),
        ("OpenAI", r"\bopenai\b|\bchatgpt\b|\bgpt[\s-]?image\b"),
        ("Stable Diffusion", r"\bstable[\s_-]?diffusion\b|\bsdxl\b|\bstability[\s.]?ai\b"),
        ("Adobe Firefly", r"\bfirefly\b"),
        ("Google Imagen", r"\bgoogle\s+imagen\b|\bimagen-\d[\d.]*-(?:\w+-)?generate"),
        (
            "Google Gemini",
            r"\bgoogle\s+gemini\b|\bgemini\s+\d[\d.]{0,6}\s+(?:\w{1,20}\s+)?image\b|\bnano\s?banana\b",
        ),
        ("Leonardo.Ai", r"\bleonardo[\s.]?ai\b"),
        ("Ideogram", r"\bideogram\b"),
        (
            "FLUX",
            r"\bflux(?:\.1|\s*1\.1|[\s.-]+(?:dev|schnell|pro|kontext))\b|\bblack\s+forest\s+labs\b",
        ),
        ("NovelAI", r"\bnovel\s?ai\b"),
        ("ComfyUI", r"\bcomfy\s?ui\b"),
        (
            "AUTOMATIC1111",
            r"\bautomatic1111\b|\bstable\s+diffusion\s+web\s?ui\b|\bsd[\s.-]?webui\b",
        ),
        ("InvokeAI", r"\binvoke\s?ai\b"),
        ("Fooocus", r"\bfooocus\b"),
        ("Draw Things", r"\bdraw\s+things\b"),
        ("DiffusionBee", r"\bdiffusion\s?bee\b"),
        ("SwarmUI", r"\bswarm\s?ui\b"),
        ("NightCafe", r"\bnightcafe\b"),
        ("Craiyon", r"\bcraiyon\b"),
        ("Bing Image Creator", r"\bbing\s+image\s+creator\b"),
        ("Playground", r"\bplayground\s?(?:ai|v\d)\b"),
        ("Kandinsky", r"\bkandinsky\s*\d"),
        ("Krea", r"\bkrea(?:\.ai|\s+ai)\b"),
        ("Recraft", r"\brecraft\b"),
        ("Seedream", r"\bseedream\b"),
        ("Hunyuan", r"\bhunyuan"),
        ("Qwen-Image", r"\bqwen[\s-]?image\b"),
        ("Grok", r"\bgrok\b"),
        ("FaceFusion", r"\bfacefusion\b"),
        ("DeepFaceLab", r"\bdeepface(?:lab|live)\b"),
        ("roop", r"\broop\b"),
        ("FaceApp", r"\bfaceapp\b"),
        ("Reface", r"\breface\b"),
    )
)
"""Generators and face-swap tools, matched in software fields only. Patterns are
specific on purpose: "imagen" is Spanish for "image" ("Editor de imagen 2.1"),
"flux" a common word; Google's model shows as "Google Imagen" or its API id."""


_SOFTWARE_MAX_CHARS: Final = 1_000
"""Only the start of a software field is searched for a name (they are short)."""


def _software_fields(metadata: Metadata) -> Iterator[Field]:
    for field in (
        _exif(metadata, "Software"),
        _exif(metadata, "ProcessingSoftware"),
        _text(metadata, "Software"),
        _text(metadata, "Source"),
        _text(metadata, "Generator"),
    ):
        if field is not None:
            yield field
    yield from _xmp_fields(metadata, "CreatorTool", "softwareAgent")


def _named(metadata: Metadata) -> tuple[Field, str] | None:
    """The first software field naming a known generator, and that generator."""
    for field in _software_fields(metadata):
        head = field.value[:_SOFTWARE_MAX_CHARS]
        for name, pattern in KNOWN_GENERATORS:
            if pattern.search(head):
                return field, name
    return None


def _generator_name(metadata: Metadata) -> str | None:
    named = _named(metadata)
    return named[1] if named else None


def named_generator(metadata: Metadata) -> Finding | None:
    """A known generator's name in EXIF Software, PNG Software or XMP CreatorTool."""
    named = _named(metadata)
    if named is None:
        return None
    field, name = named
    return Finding(
        Strength.MODERATE, f"{field.where} names the generator {name}: {_quote(field.value)}"
    )


RECORDS: Final[tuple[Recogniser, ...]] = (
    automatic1111,
    comfyui,
    invokeai,
    novelai,
    parameters_json,
    midjourney_description,
)
"""Recognisers of a tool's own generation record, most specific first."""


class GeneratorMetadataChecker(Checker):
    """A generation record (strong) or a generator's name (moderate) in metadata.

    One evidence item at most: the strongest record found (the first on ties;
    ComfyUI's A1111-compatible savers write two records of one generation), or
    else a generator named in a software field.
    """

    def __init__(
        self,
        records: tuple[Recogniser, ...] = RECORDS,
        names: Recogniser = named_generator,
    ) -> None:
        self.records = records
        self.names = names

    @classmethod
    def get_name(cls) -> str:
        return "generator_metadata"

    def check(self, picture: Picture) -> tuple[Evidence, ...]:
        metadata = picture.metadata
        best = strongest(r(metadata) for r in self.records)
        if best is None:
            best = self.names(metadata)
        if best is None:
            return ()
        return (
            Evidence(
                kind=EvidenceKind.GENERATOR_METADATA, strength=best.strength, detail=best.detail
            ),
        )


_STRENGTHS: Final = (Strength.WEAK, Strength.MODERATE, Strength.STRONG)


def strongest(findings: Iterable[Finding | None]) -> Finding | None:
    """The strongest finding (the first on ties), or None."""
    found = [f for f in findings if f is not None]
    return max(found, key=lambda f: _STRENGTHS.index(f.strength), default=None)
