"""Loading user meshes safely into trimesh scenes.

Every mesh input in the studio goes through `load_scene`: it checks the file
before trimesh sees it (empty, wrong magic, unsafe zip) and after (no faces,
too many faces), so a bad upload becomes an `InputError` that says what to
change rather than a stack trace.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zipfile
import zlib
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import trimesh

from ..base import as_scene
from ..errors import InputError
from . import fbx as fbx_format
from .export import assimp_command
from .repair import unit_factor

MESH_FORMATS = ("glb", "gltf", "obj", "ply", "stl", "off", "fbx", "usd", "usda", "usdc", "usdz", "zip")
MAX_FACES = 5_000_000
# Coordinates past these bounds break the geometry libraries (xatlas spins forever near 1e38).
MAX_COORDINATE, MIN_SPAN = 1e12, 1e-9
MAX_ZIP_MEMBERS = 64
MAX_ZIP_BYTES = 1024**3
# What an FBX's (usually compressed) arrays may hold once assimp expands them.
MAX_FBX_ARRAY_BYTES = 1024**3
FBX_READ_SECONDS = 300
FBX_TEXTURE_FIELDS = (b"FileName", b"Filename", b"RelativeFilename")
USD_FORMATS = ("usd", "usda", "usdc", "usdz")
# Mesh text deflates about 3-10x; a large member packed far tighter is a zip bomb, not a mesh.
MAX_ZIP_RATIO, ZIP_RATIO_FROM_BYTES = 200, 64 * 1024**2
# Required glTF extensions trimesh cannot decode: loading would fail with a cryptic error or drop data.
UNSUPPORTED_GLTF_EXTENSIONS = {
    "KHR_draco_mesh_compression": "Draco mesh compression",
    "EXT_meshopt_compression": "meshopt compression",
    "KHR_mesh_quantization": "quantized vertex attributes",
    "KHR_texture_basisu": "KTX2/Basis textures",
}


def mesh_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in MESH_FORMATS:
        what = f"Unsupported mesh format '.{suffix}'" if suffix else "The file has no extension"
        raise InputError(f"{what}; upload one of: {', '.join('.' + f for f in MESH_FORMATS)}.")
    return suffix


def _check_bytes(path: Path, fmt: str) -> None:
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"'{path.name}' is empty; upload a mesh file with content.")
    with open(path, "rb") as f:
        head = f.read(12)
    if fmt == "glb":
        if head[:4] != b"glTF":
            raise InputError(f"'{path.name}' is not a binary glTF (.glb) file: it lacks the 'glTF' header.")
        declared = int.from_bytes(head[8:12], "little")
        if declared != size:
            raise InputError(
                f"'{path.name}' is truncated or corrupt: its header says {declared} bytes, the file has {size}."
            )
    if fmt == "zip" and not zipfile.is_zipfile(path):
        raise InputError(f"'{path.name}' is not a valid .zip archive.")


def _extract_zip(path: Path, into: Path) -> Path:
    """Extract a zip holding one mesh (an OBJ with its MTL and textures); return the mesh path."""
    unzip_safely(path, into)
    meshes = sorted(p for p in into.rglob("*") if p.suffix.lower() in tuple(f".{f}" for f in MESH_FORMATS[:-1]))
    if not meshes:
        raise InputError("The zip holds no .obj (or other mesh) file.")
    if len(meshes) > 1:
        names = ", ".join(str(p.relative_to(into)) for p in meshes[:5])
        raise InputError(f"The zip holds {len(meshes)} meshes ({names}); put one mesh per zip.")
    for mtl in into.rglob("*.mtl"):
        _relink_textures(mtl, into)
    return meshes[0]


def unzip_safely(path: Path, into: Path) -> list[str]:
    """Extract a zip (an upload or a USDZ package) after the size, bomb and path checks; return its member names."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir() and not _is_junk(m.filename)]
            if any(m.flag_bits & 1 for m in members):
                raise InputError(f"'{path.name}' is password-protected; zip the files again without a password.")
            if len(members) > MAX_ZIP_MEMBERS:
                raise InputError(f"The zip holds {len(members)} files; keep it to one mesh with its materials.")
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise InputError("The zip expands to more than 1 GiB; upload a smaller archive.")
            for member in members:
                if member.file_size > max(ZIP_RATIO_FROM_BYTES, MAX_ZIP_RATIO * member.compress_size):
                    raise InputError(f"The zip entry '{member.filename}' expands {member.file_size // max(member.compress_size, 1):,} "
                                     "times its packed size (a zip bomb?); upload the mesh files themselves.")
            root = into.resolve()
            for member in members:
                target = (into / member.filename).resolve()
                if root not in target.parents:
                    raise InputError(f"The zip entry '{member.filename}' points outside the archive.")
            try:
                archive.extractall(into, members)
            except OSError as exc:  # a file and a folder of one name, a name the file system refuses
                raise InputError(f"'{path.name}' could not be unpacked ({exc.strerror or 'bad member names'}); "
                                 "zip the mesh and its files again with plain, distinct names.") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise InputError(f"'{path.name}' is a damaged or unsupported zip ({exc}); zip the files again.") from exc
    return [m.filename for m in members]


def inside(root: Path, base: Path, reference: str) -> Path | None:
    """The path `reference` (relative to `base`) names inside `root`, or None when it points elsewhere.

    Absolute paths, drive letters, URLs and `..` that climb out of `root` all point elsewhere. Nothing
    is read or even checked for existence here, so a refusal says the same whether the target exists.
    """
    ref = unquote(str(reference).strip()).replace("\\", "/")
    if not ref or ref.startswith("/") or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", ref):
        return None
    target = (base / ref).resolve()
    return target if target.is_relative_to(root.resolve()) else None


def _is_junk(name: str) -> bool:
    """macOS resource forks and hidden files that archivers add beside the real ones."""
    parts = name.replace("\\", "/").split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith(".")


def _relink_textures(mtl: Path, root: Path) -> None:
    """Point each `map_*` line of an MTL at the file in the zip it names.

    Exporters write Windows paths (`C:\\tex\\a.png`, `tex\\a.png`) and options (`-s 1 1 1 a.png`)
    that trimesh cannot follow; the file is found by its relative path, else by its name.
    """
    lines = mtl.read_text(errors="replace").splitlines()
    files = {p.name.lower(): p for p in root.rglob("*") if p.is_file()}
    for index, line in enumerate(lines):
        match = MAP_LINE.match(line)
        if not match:
            continue
        tails = _tails(match.group(2))
        found = _map_file(mtl, root, tails) or next(
            (files[Path(name).name.lower()] for name in tails if Path(name).name.lower() in files), None)
        if found is not None:
            lines[index] = f"{match.group(1)} {os.path.relpath(found, mtl.parent)}"
    mtl.write_text("\n".join(lines) + "\n")


MAP_LINE = re.compile(r"\s*(map_\w+|bump|disp|decal|refl)\s+(.+?)\s*$", re.IGNORECASE)


def _tails(value: str) -> list[str]:
    """Candidate file names in a texture line's value, longest first: options come first, names may hold spaces."""
    tokens = value.replace("\\", "/").split()
    return [" ".join(tokens[start:]) for start in range(len(tokens))]


def _map_file(mtl: Path, root: Path, tails: list[str]) -> Path | None:
    """The texture file a map line names inside `root`, if it is there."""
    for name in tails:
        here = inside(root, mtl.parent, name)
        if here is not None and here.is_file():
            return here
    return None


def _absolute_obj_indices(path: Path, folder: Path) -> Path:
    """An OBJ whose negative (relative) face indices are made absolute; trimesh counts them from the
    end of the whole file instead of from the face, which silently builds wrong faces."""
    text = path.read_text(errors="replace")
    if not re.search(r"^f[ \t].*[ \t/]-\d", text, re.MULTILINE):
        return path
    counts = {"v": 0, "vt": 0, "vn": 0}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        head = line.split(maxsplit=1)[0] if line.strip() else ""
        if head in counts:
            counts[head] += 1
        elif head == "f":
            lines[index] = "f " + " ".join(_absolute_corner(corner, counts) for corner in line.split()[1:])
    fixed = path if path.is_relative_to(folder) else folder / path.name
    fixed.write_text("\n".join(lines) + "\n")
    return fixed


def _absolute_corner(corner: str, counts: dict) -> str:
    """`-1/-1/-1` -> `8/4/8`: each negative index counted back from the elements read so far."""
    fields = corner.split("/")
    for slot, key in zip(range(len(fields)), ("v", "vt", "vn")):
        if fields[slot].startswith("-"):
            fields[slot] = str(counts[key] + 1 + int(fields[slot]))
    return "/".join(fields)


def _off_colors(path: Path, mesh: trimesh.Trimesh) -> None:
    """Vertex colours (COFF) or per-face colours of an OFF file, which trimesh's reader skips."""
    rows = [line.split("#")[0].split() for line in path.read_text(errors="replace").splitlines()]
    rows = [row for row in rows if row]
    start = 1 if len(rows[0]) == 1 else 0
    counts = rows[start] if start else rows[0][1:]
    vertices, faces = int(counts[0]), int(counts[1])
    vertex_rows = rows[start + 1:start + 1 + vertices]
    face_rows = rows[start + 1 + vertices:start + 1 + vertices + faces]
    if rows[0][0].upper().startswith("C") and len(mesh.vertices) == vertices and all(len(r) >= 6 for r in vertex_rows):
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=_rgba([r[3:7] for r in vertex_rows]))
    elif len(mesh.faces) == faces and face_rows and all(len(r) >= int(r[0]) + 4 for r in face_rows):
        mesh.visual = trimesh.visual.ColorVisuals(mesh, face_colors=_rgba([r[int(r[0]) + 1:int(r[0]) + 5] for r in face_rows]))


def _rgba(rows: list[list[str]]) -> np.ndarray:
    """OFF colours (0-1 floats or 0-255 integers, RGB or RGBA) as uint8 RGBA."""
    width = min(len(r) for r in rows)
    colors = np.array([r[:width] for r in rows], dtype=np.float64)
    if colors.max() <= 1.0 and any("." in v for v in rows[0]):
        colors = colors * 255.0
    if width == 3:
        colors = np.column_stack([colors, np.full(len(colors), 255.0)])
    return np.clip(colors.round(), 0, 255).astype(np.uint8)


def _confine_obj(obj: Path, root: Path, into: Path) -> tuple[Path, list[str]]:
    """`obj` with only the material files and textures that lie inside `root`, plus warnings.

    References that point elsewhere (absolute paths, `..`) are dropped unread. An OBJ outside
    `into` is copied there first with what it may use, so trimesh never opens a path it names.
    """
    warnings, rewritten = [], []
    staged = obj if obj.is_relative_to(into) else into / obj.name
    for line in obj.read_text(errors="replace").splitlines():
        match = re.match(r"mtllib[ \t]+(.+?)\s*$", line)
        if not match:
            rewritten.append(line)
            continue
        name = match.group(1)
        mtl = inside(root, obj.parent, name)
        if mtl is None:
            warnings.append(f"'{obj.name}' names a material file outside the upload; it was ignored. Upload a .zip "
                            "holding the .obj, its .mtl and textures side by side.")
        elif not mtl.is_file():
            warnings.append(f"'{obj.name}' names the material file '{name}', which was not uploaded with it, so its "
                            "materials and textures are missing; upload a .zip holding the .obj, .mtl and textures.")
        else:
            target = staged.parent / mtl.relative_to(obj.parent) if mtl.is_relative_to(obj.parent) else staged.parent / mtl.name
            warnings += _confine_mtl(mtl, root, target)
            rewritten.append(f"mtllib {os.path.relpath(target, staged.parent)}")
    staged.write_text("\n".join(rewritten) + "\n")
    return staged, warnings


def _confine_mtl(mtl: Path, root: Path, target: Path) -> list[str]:
    """Write `mtl` to `target` keeping only the textures inside `root` (copied beside it when it moves)."""
    missing, outside, lines = set(), 0, []
    for line in mtl.read_text(errors="replace").splitlines():
        match = MAP_LINE.match(line)
        if not match:
            lines.append(line)
            continue
        tails = _tails(match.group(2))
        texture = _map_file(mtl, root, tails)
        if texture is None:
            if inside(root, mtl.parent, tails[-1]) is None:
                outside += 1
            elif match.group(1).lower() == "map_kd":
                missing.add(Path(tails[-1]).name)
            continue
        copy = target.parent / os.path.relpath(texture, mtl.parent)
        if copy != texture:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(texture, copy)
        lines.append(f"{match.group(1)} {os.path.relpath(copy, target.parent)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n")
    warnings = []
    if missing:
        warnings.append(f"The texture(s) {', '.join(sorted(missing))} named in '{mtl.name}' are not in the upload, so "
                        "the mesh has no texture; add them to the .zip beside the .mtl.")
    if outside:
        warnings.append(f"'{mtl.name}' names {outside} texture(s) outside the upload; they were ignored.")
    return warnings


def _check_gltf(path: Path, fmt: str, root: Path) -> None:
    """Refuse glTF that needs an extension trimesh cannot decode, or names files outside `root` (the upload)."""
    try:
        if fmt == "glb":
            with open(path, "rb") as f:
                f.seek(12)
                length = int.from_bytes(f.read(4), "little")
                f.read(4)
                header = json.loads(f.read(length))
        else:
            header = json.loads(path.read_bytes())
    except RecursionError as exc:
        raise InputError(f"'{path.name}' is not valid glTF: its JSON is nested too deeply to read.") from exc
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"'{path.name}' is not valid glTF: its JSON could not be read ({exc}).") from exc
    if not isinstance(header, dict):
        raise InputError(f"'{path.name}' is not valid glTF: its JSON is not an object.")
    required = [e for e in header.get("extensionsRequired") or [] if isinstance(e, str) and e in UNSUPPORTED_GLTF_EXTENSIONS]
    if required:
        what = ", ".join(f"{UNSUPPORTED_GLTF_EXTENSIONS[e]} ({e})" for e in required)
        raise InputError(f"'{path.name}' uses {what}, which the studio cannot decode; re-export it "
                         "without compression (e.g. Blender's glTF export with Draco off and PNG/JPEG textures).")
    entries = [e for key in ("buffers", "images") for e in (header.get(key) or []) if isinstance(e, dict)]
    external = [str(e["uri"]) for e in entries if e.get("uri") and not str(e["uri"]).startswith("data:")]
    targets = [inside(root, path.parent, uri) for uri in external]
    if None in targets:
        raise InputError(f"'{path.name}' refers to files outside the upload; upload it as one .glb, as .gltf with "
                         "embedded buffers, or as a .zip holding the .gltf with its files beside it.")
    if fmt == "gltf" and not all(target.is_file() for target in targets):
        raise InputError(f"'{path.name}' refers to separate files ({', '.join(external[:3])}) that were not uploaded "
                         "with it; upload it as one .glb, as .gltf with embedded buffers, or as a .zip holding the "
                         ".gltf with those files.")


def load_scene(path: str | os.PathLike, max_faces: int | None = None, warnings: list | None = None) -> trimesh.Scene:
    """Load a mesh file (or a zip with an OBJ, its MTL and textures) as a Scene.

    Data the upload names but lacks (an OBJ's MTL or textures) is appended to `warnings` when given.
    """
    if path is None:
        raise InputError("No mesh was given; upload a mesh file.")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"The mesh file '{path.name}' was not found; upload it again.")
    fmt = mesh_format(path)
    _check_bytes(path, fmt)
    max_faces = MAX_FACES if max_faces is None else max_faces  # read at call time: tests lower MAX_FACES
    with tempfile.TemporaryDirectory(prefix="studio-mesh-") as tmp:
        # References inside the file may reach only the upload: the zip's contents, else the file's own folder.
        root = Path(tmp) if fmt == "zip" else path.parent
        source = _extract_zip(path, Path(tmp)) if fmt == "zip" else path
        if source.suffix.lower() == ".obj":
            source, confined = _confine_obj(source, root, Path(tmp))
            source = _absolute_obj_indices(source, Path(tmp))
            if warnings is not None:
                warnings.extend(confined)
        if source.suffix.lower() in (".glb", ".gltf"):
            _check_gltf(source, source.suffix.lower().lstrip("."), root)
        kind = source.suffix.lower().lstrip(".")
        if kind == "fbx":
            scene = _load_fbx(source, root, Path(tmp), path.name, warnings)
        elif kind in USD_FORMATS:
            scene = _load_usd(source, root, Path(tmp), path.name, max_faces, warnings)
        else:
            scene = as_scene(_load_with_trimesh(source, path.name, fmt))
        for geom in scene.geometry.values():
            _textured_obj_to_pbr(geom)
            _colour_attribute_as_vertex_colours(geom)
    return validate_scene(scene, path.name, max_faces)


def _load_with_trimesh(source: Path, label: str, fmt: str):
    try:
        loaded = trimesh.load(str(source), file_type=source.suffix.lower().lstrip("."), process=False)
        if source.suffix.lower() == ".off" and isinstance(loaded, trimesh.Trimesh):
            _off_colors(source, loaded)
        return loaded
    except Exception as exc:  # trimesh raises many types for corrupt data; its words help nobody here
        raise InputError(f"'{label}' could not be read as .{fmt}: the file is damaged or not really "
                         f".{fmt}. Re-export it from your 3D tool.") from exc


def _load_fbx(source: Path, root: Path, tmp: Path, label: str, warnings: list | None) -> trimesh.Scene:
    """Binary FBX through assimp (FBX to GLB), then trimesh; units and PBR factors from the FBX itself
    (assimp turns the up axis).

    Texture paths the FBX names are pointed at files inside the upload (or cleared) before assimp
    opens it, so assimp never reads a file outside the upload.
    """
    data = source.read_bytes()
    if not fbx_format.is_binary_fbx(data[:32]):
        if b"FBXHeaderExtension" in data[:4096]:
            raise InputError(f"'{label}' is an ASCII FBX; the studio reads binary FBX. Export it again as binary FBX "
                             "(the default in Blender, Maya and 3ds Max).")
        raise InputError(f"'{label}' is not an FBX file: it lacks the binary FBX header. Export it again as FBX.")
    try:
        document = fbx_format.read_fbx(data)
    except (fbx_format.FbxError, struct.error, IndexError) as exc:
        raise InputError(f"'{label}' is a damaged FBX file ({exc}); export it again.") from exc
    if document.array_bytes > MAX_FBX_ARRAY_BYTES:
        raise InputError(f"'{label}' holds {document.array_bytes / 1024**3:.1f} GiB of geometry once unpacked; the "
                         "studio takes up to 1 GiB. Decimate it first.")
    # A zip's files are searched throughout; beside a lone upload, only its own folder.
    found = _confine_fbx_textures(document, source, root, root.rglob("*") if root == tmp else source.parent.iterdir())
    if warnings is not None:
        warnings.extend(found)
    staged, glb = tmp / "upload.fbx", tmp / "upload-from-fbx.glb"
    staged.write_bytes(fbx_format.write_fbx_bytes(document))
    command, env = assimp_command()
    try:
        result = subprocess.run([*command, "export", str(staged), str(glb), "-fglb2", "-embtex"],
                                capture_output=True, text=True, env=env, timeout=FBX_READ_SECONDS)
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"'{label}' took more than {FBX_READ_SECONDS} s to read; simplify it or export it as GLB.") from exc
    if result.returncode != 0 or not glb.is_file():
        raise InputError(f"'{label}' could not be read as FBX: the file is damaged or uses features assimp cannot "
                         "read. Export it again, or as GLB.")
    scene = as_scene(_load_with_trimesh(glb, label, "fbx"))
    _scale_in_place(scene, _fbx_unit_scale(document))
    pbr = fbx_format.read_pbr(document)
    for geom in scene.geometry.values():
        material = getattr(getattr(geom, "visual", None), "material", None)
        if isinstance(material, trimesh.visual.material.PBRMaterial) and material.name in pbr:
            material.metallicFactor, material.roughnessFactor = pbr[material.name]
            if material.baseColorTexture is not None:
                # Like Blender's FBX importer: the texture alone sets the colour (exporters write 0.8 beside it).
                material.baseColorFactor = None
    return scene


def _confine_fbx_textures(document, source: Path, root: Path, candidates) -> list[str]:
    """Point every texture and video path at its file inside `root` (found by path, else by name among
    `candidates`), and return warnings for the textures that are missing.

    A path that reaches outside `root` becomes its bare file name: assimp can still match it to the
    image embedded in the FBX, and it names nothing outside the folder assimp reads from.
    """
    objects = document.find(b"Objects")
    nodes = [n for n in (objects.children if objects else []) if n.name in (b"Texture", b"Video")]
    files = {p.name.lower(): p for p in candidates if p.is_file()}
    embedded, wanted = set(), set()
    for node in nodes:
        fields = [c for c in node.children if c.name in FBX_TEXTURE_FIELDS and c.properties and c.properties[0][0] == b"S"]
        names = [c.properties[0][1].decode("utf-8", "replace") for c in fields]
        base = next((Path(n.replace("\\", "/")).name for n in names if n), "")
        target = next((t for t in (inside(root, source.parent, n) for n in names if n) if t is not None and t.is_file()),
                      files.get(base.lower()))
        if any(c.name == b"Content" and c.properties and len(c.properties[0][1]) > 0 for c in node.children):
            embedded.add(base.lower())
        elif node.name == b"Texture" and base and target is None:
            wanted.add(base)
        for field in fields:
            field.properties[0] = (b"S", str(target if target is not None else base).encode())
    missing = sorted(name for name in wanted if name.lower() not in embedded)
    if not missing:
        return []
    return [f"The texture(s) {', '.join(missing)} named in '{source.name}' are not in the upload, so the mesh has "
            "no texture; upload a .zip holding the .fbx with its textures, or embed them in the FBX."]


def _scale_in_place(scene: trimesh.Scene, factor: float) -> None:
    """Scale the meshes and their nodes' offsets (trimesh's `Scene.scaled` copies, and its copies drop glTF colours)."""
    for geom in scene.geometry.values():
        geom.apply_scale(factor)
    for (parent, child), data in list(scene.graph.transforms.edge_data.items()):
        matrix = np.array(data.get("matrix", np.eye(4)), dtype=np.float64)
        matrix[:3, 3] *= factor
        rest = {key: value for key, value in data.items() if key != "matrix"}
        scene.graph.update(frame_from=parent, frame_to=child, matrix=matrix, **rest)


def _fbx_unit_scale(document) -> float:
    """Metres per FBX unit (FBX states centimetres per unit). assimp turns the up axis itself, not the units."""
    settings = fbx_format.property_values(document.find(b"GlobalSettings", b"Properties70"))
    return float(settings.get("UnitScaleFactor", (1.0,))[0]) / 100.0


def _load_usd(source: Path, root: Path, tmp: Path, label: str, max_faces: int, warnings: list | None) -> trimesh.Scene:
    """USD layers or a USDZ package (unpacked with the zip checks first) through usd-core."""
    from .usd import read_usd, root_layer_of_package

    if source.suffix.lower() == ".usdz":
        if not zipfile.is_zipfile(source):
            raise InputError(f"'{label}' is not a valid .usdz package (a USDZ is a zip); export it again.")
        package = tmp / "usdz"
        members = unzip_safely(source, package)
        source, root = root_layer_of_package(members, package, label), package
    try:
        return read_usd(source, root, label, max_faces, warnings)
    except InputError:
        raise
    except Exception as exc:  # usd-core raises Tf errors of many kinds for damaged layers
        raise InputError(f"'{label}' could not be read as USD: the file is damaged. Export it again.") from exc


def _textured_obj_to_pbr(geom) -> None:
    """Give an OBJ material with a `map_Kd` texture a PBR material showing the texture as is.

    The texture is read now (trimesh loads it lazily from the temporary folder). Most exporters
    write `Kd 0.8` or less beside `map_Kd`; like Blender's importer we let the texture alone set the
    colour, otherwise the GLB would multiply it by Kd and come out darker than the original. MTL has
    no metalness, so the material is a dielectric (glTF's default metallicFactor 1 renders near black
    without an environment map).
    """
    material = getattr(getattr(geom, "visual", None), "material", None)
    if not isinstance(material, trimesh.visual.material.SimpleMaterial) or material.image is None:
        return
    material.image.load()
    pbr = material.to_pbr()
    pbr.name = material.name
    pbr.baseColorFactor = None
    pbr.metallicFactor = 0.0
    geom.visual.material = pbr


def _colour_attribute_as_vertex_colours(geom) -> None:
    """Keep the vertex colours of a glTF primitive that also has a plain material.

    trimesh loads such a primitive as a material and hides COLOR_0 in `vertex_attributes`; every
    GLB the studio writes is like that (glTF's default material is fully metallic, so vertex-coloured
    meshes get a matte one). The colours come back as vertex colours tinted by the base colour.
    """
    visual = getattr(geom, "visual", None)
    if not isinstance(visual, trimesh.visual.TextureVisuals) or getattr(visual.material, "baseColorTexture", None) is not None:
        return
    colours = visual.vertex_attributes.get("color")
    if colours is None or len(colours) != len(geom.vertices):
        return
    colours = np.asarray(colours, dtype=np.float64)
    if colours.max(initial=0.0) <= 1.0:
        colours = colours * 255.0
    if colours.shape[1] == 3:
        colours = np.column_stack([colours, np.full(len(colours), 255.0)])
    factor = getattr(visual.material, "baseColorFactor", None)
    if factor is not None:
        colours = colours * np.asarray(factor, dtype=np.float64) / 255.0
    geom.visual = trimesh.visual.ColorVisuals(geom, vertex_colors=colours.round().clip(0, 255).astype(np.uint8))


def flatten(scene: trimesh.Scene) -> trimesh.Trimesh:
    """Every placed mesh in world space as one mesh, faces in scene-node order, geometry untouched."""
    meshes = []
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        geom = scene.geometry[name]
        meshes.append(trimesh.Trimesh(trimesh.transform_points(geom.vertices, transform), geom.faces, process=False))
    if len(meshes) == 1:
        return meshes[0]
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return trimesh.Trimesh(np.vstack([m.vertices for m in meshes]),
                           np.vstack([m.faces + o for m, o in zip(meshes, offsets)]), process=False)


def validate_scene(scene: trimesh.Scene, label: str = "the mesh", max_faces: int = MAX_FACES) -> trimesh.Scene:
    """Keep only triangle meshes with faces and finite vertices; reject what remains empty or too large."""
    kept = {}
    for name, geom in scene.geometry.items():
        if isinstance(geom, trimesh.Trimesh) and len(geom.faces) > 0:
            if not np.isfinite(geom.vertices).all():
                raise InputError(f"{label} has vertices with NaN or infinite coordinates; fix or re-export it.")
            if geom.faces.min() < 0 or geom.faces.max() >= len(geom.vertices):
                raise InputError(f"{label} has faces that point at vertices it does not have (index out of "
                                 "range); the file is corrupt, re-export it.")
            kept[name] = geom
    if not kept:
        raise InputError(f"{label} has no faces (it is empty or only points/lines); upload a surface mesh.")
    for name in set(scene.geometry) - set(kept):
        scene.delete_geometry(name)
    if not any((g.area_faces > 0).any() for g in kept.values()):
        raise InputError(f"Every face of the mesh has zero area ({label} holds only lines or points); "
                         "upload a mesh with a real surface.")
    vertices = np.concatenate([g.vertices for g in kept.values()])
    largest, span = float(np.abs(vertices).max()), float(np.ptp(vertices, axis=0).max())
    if largest > MAX_COORDINATE:
        raise InputError(f"{label} has coordinates up to {largest:.3g}; the studio takes meshes within "
                         f"±{MAX_COORDINATE:.0e} units. Scale it down or re-export it in metres.")
    if span < MIN_SPAN:
        raise InputError(f"{label} is only {span:.3g} units across; the studio takes meshes at least {MIN_SPAN:.0e} "
                         "units across. Scale it up or re-export it in millimetres.")
    faces = sum(len(g.faces) for g in kept.values())
    if faces > max_faces:
        raise InputError(f"{label} has {faces:,} faces; the limit is {max_faces:,}. Decimate it first.")
    return scene


def scene_stats(scene: trimesh.Scene) -> dict:
    """Counts, watertightness and bounding box for metadata."""
    meshes = [g for g in scene.geometry.values() if isinstance(g, trimesh.Trimesh)]
    bounds = scene.bounds if meshes else np.zeros((2, 3))
    return {
        "vertices": int(sum(len(m.vertices) for m in meshes)),
        "faces": int(sum(len(m.faces) for m in meshes)),
        "parts": len(scene.graph.nodes_geometry),
        "watertight": bool(meshes) and all(_closed(m) for m in meshes),
        "bounding_box": {
            "min": [float(f"{v:.7g}") for v in bounds[0]],
            "max": [float(f"{v:.7g}") for v in bounds[1]],
        },
    }


def _closed(mesh: trimesh.Trimesh) -> bool:
    """Watertight as the surface's positions define it (UV seams split vertices, not the surface).

    Positions are compared at about unit size, so a tiny or huge mesh is judged like a metre-sized one.
    """
    first, ids = trimesh.grouping.unique_rows(mesh.vertices * unit_factor(mesh.vertices))
    return trimesh.Trimesh(mesh.vertices[first], ids[mesh.faces], process=False).is_watertight
