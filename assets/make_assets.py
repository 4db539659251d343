"""Make the small example meshes shipped in `assets/` (run from the repo root).

    python assets/make_assets.py

Everything is generated here, so the examples carry no third-party licence:
- `textured_box.zip`: an OBJ with its MTL and a PNG texture (the browser-upload form of a textured OBJ),
- `colored_torus.ply`: a torus with per-vertex colours,
- `capsule.glb`: a plain capsule with a PBR colour.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent


def checker_texture(size: int = 192, cells: int = 6) -> Image.Image:
    """A coloured checkerboard with a diagonal stripe, so orientation errors show."""
    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    step = size // cells
    palette = [(220, 60, 50), (240, 200, 60), (60, 140, 220), (70, 180, 90)]
    for row in range(cells):
        for col in range(cells):
            color = palette[(row + col) % 2 + 2 * ((row // 2 + col // 2) % 2)]
            draw.rectangle([col * step, row * step, (col + 1) * step - 1, (row + 1) * step - 1], fill=color)
    draw.line([(0, size - 1), (size - 1, 0)], fill=(255, 255, 255), width=size // 16)
    return image


def textured_box() -> trimesh.Trimesh:
    """A box whose six faces each show one cell of a 3x2 texture atlas (vertices split per face)."""
    box = trimesh.creation.box(extents=(1.0, 0.8, 0.6))
    vertices, faces, uv = [], [], []
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    normals = ([1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1])
    for index, normal in enumerate(normals):
        cell = np.array([index % 3, index // 3], dtype=float)
        normal = np.array(normal, dtype=float)
        # Two axes spanning this face, right-handed with the outward normal.
        u_axis = np.roll(np.abs(normal), 1) * (1 if normal.sum() > 0 else -1)
        v_axis = np.cross(normal, u_axis)
        half = box.extents / 2
        center = normal * half
        base = len(vertices)
        for cu, cv in corners:
            vertices.append(center + (cu - 0.5) * 2 * u_axis * half + (cv - 0.5) * 2 * v_axis * half)
            uv.append((cell + [cu, cv]) / [3, 2])
        faces += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
    material = trimesh.visual.material.SimpleMaterial(image=checker_texture(), name="checker")
    visual = trimesh.visual.TextureVisuals(uv=np.array(uv), material=material)
    mesh = trimesh.Trimesh(np.array(vertices), np.array(faces), visual=visual, process=False)
    trimesh.repair.fix_normals(mesh)
    return mesh


def write_obj_zip(mesh: trimesh.Trimesh, path: Path) -> None:
    text, files = trimesh.exchange.obj.export_obj(
        mesh, include_texture=True, return_texture=True, mtl_name="textured_box.mtl"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        # A fixed date keeps the archive byte-identical between runs.
        for name, data in [("textured_box.obj", text), *sorted(files.items())]:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)


def colored_torus() -> trimesh.Trimesh:
    torus = trimesh.creation.torus(major_radius=0.5, minor_radius=0.2, major_sections=48, minor_sections=16)
    angle = np.arctan2(torus.vertices[:, 1], torus.vertices[:, 0])
    hue = (angle + np.pi) / (2 * np.pi)
    rgb = (np.stack([np.sin(2 * np.pi * (hue + k / 3)) for k in range(3)], axis=1) * 0.5 + 0.5) * 255
    colors = np.column_stack([rgb, np.full(len(rgb), 255)]).astype(np.uint8)
    torus.visual = trimesh.visual.ColorVisuals(torus, vertex_colors=colors)
    return torus


def capsule() -> trimesh.Trimesh:
    mesh = trimesh.creation.capsule(height=0.8, radius=0.3, count=(24, 24))
    mesh.visual = trimesh.visual.TextureVisuals(
        material=trimesh.visual.material.PBRMaterial(baseColorFactor=[90, 160, 230, 255], roughnessFactor=0.5)
    )
    return mesh


def main() -> None:
    write_obj_zip(textured_box(), HERE / "textured_box.zip")
    (HERE / "colored_torus.ply").write_bytes(
        trimesh.exchange.ply.export_ply(colored_torus(), encoding="binary")
    )
    (HERE / "capsule.glb").write_bytes(trimesh.exchange.gltf.export_glb(trimesh.Scene(capsule())))
    for path in sorted(HERE.glob("*.*")):
        if path.suffix != ".py":
            print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
