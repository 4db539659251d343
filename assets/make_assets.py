"""Make the small example meshes shipped in `assets/` (run from the repo root).

    python assets/make_assets.py [output folder, default assets/]

Everything is generated here, so the examples carry no third-party licence:
- `textured_box.zip`: an OBJ with its MTL and a PNG texture (the browser-upload form of a textured OBJ),
- `colored_torus.ply`: a torus with per-vertex colours,
- `capsule.glb`: a plain capsule with a PBR colour,
- `toy_front.png`, `toy_back.png`, `toy_left.png`, `toy_right.png`: one toy rocket (boosters on its +x and +z
  sides) rendered orthographically, transparent background, from the four views image-to-3D carving expects,
- `toy_photo.jpg`: the rocket turned a little, on a plain light backdrop (no alpha: background removal),
- `figure.glb`: a closed humanoid in a T-pose (+Y up, facing +Z) for auto-rigging,
- `parts.glb`: a cup, a cut sphere and a block as named nodes, two of them open, for part completion.
"""

from __future__ import annotations

import sys
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
        material=trimesh.visual.material.PBRMaterial(baseColorFactor=[90, 160, 230, 255], roughnessFactor=0.5, metallicFactor=0.0)
    )
    return mesh


# Per view of the image-to-3D multi-view convention (pipelines/image_to_3d/builtin.py):
# (direction towards the camera, world direction of image right). Up is always +y.
VIEWS = {
    "front": ((0, 0, 1), (1, 0, 0)),
    "back": ((0, 0, -1), (-1, 0, 0)),
    "left": ((-1, 0, 0), (0, 0, 1)),
    "right": ((1, 0, 0), (0, 0, -1)),
}
RENDER_SIZE = 512
SUPERSAMPLE = 2
WORLD_HALF = 0.6  # the square image spans [-0.6, 0.6] world units around the origin


def upright(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Turn a trimesh primitive built along +z to stand along +y."""
    mesh.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    return mesh


def painted(mesh: trimesh.Trimesh, rgb: tuple[int, int, int]) -> trimesh.Trimesh:
    mesh.visual = trimesh.visual.ColorVisuals(mesh, face_colors=[*rgb, 255])
    return mesh


def toy_rocket() -> trimesh.Trimesh:
    """A toy rocket about 1 unit tall (+y up): body, nose, four fins, a nozzle, a porthole facing +z,
    and boosters on its +x and +z sides only, so a mirrored view would show in a reconstruction."""
    red, blue, white, grey, yellow = (215, 55, 45), (60, 120, 200), (235, 240, 245), (70, 70, 80), (240, 190, 40)
    body = painted(upright(trimesh.creation.cylinder(radius=0.16, height=0.6, sections=48)), blue)
    nose = painted(upright(trimesh.creation.cone(radius=0.16, height=0.32, sections=48)), red)
    nose.apply_translation([0, 0.3, 0])
    nozzle = painted(upright(trimesh.creation.cylinder(radius=0.1, height=0.1, sections=32)), grey)
    nozzle.apply_translation([0, -0.33, 0])
    porthole = painted(trimesh.creation.cylinder(radius=0.075, height=0.04, sections=32), white)
    porthole.apply_translation([0, 0.21, 0.155])
    parts = [body, nose, nozzle, porthole]
    for angle in np.arange(4) * np.pi / 2 + np.pi / 4:
        fin = painted(trimesh.creation.box(extents=(0.16, 0.22, 0.03)), red)
        fin.apply_translation([0.2, -0.2, 0])
        fin.apply_transform(trimesh.transformations.rotation_matrix(angle, [0, 1, 0]))
        parts.append(fin)
    for direction in ([1, 0, 0], [0, 0, 1]):
        booster = painted(upright(trimesh.creation.cylinder(radius=0.06, height=0.34, sections=32)), yellow)
        cap = painted(upright(trimesh.creation.cone(radius=0.06, height=0.1, sections=32)), red)
        cap.apply_translation([0, 0.17, 0])
        pod = trimesh.util.concatenate([booster, cap])
        pod.apply_translation(np.array(direction) * 0.215 + [0, -0.12, 0])
        parts.append(pod)
    rocket = trimesh.util.concatenate(parts)
    rocket.apply_translation([0, -rocket.bounds[:, 1].mean(), 0])  # centred in the render window
    return rocket


def render(mesh: trimesh.Trimesh, toward: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Orthographic z-buffer render with flat shading: an RGBA uint8 image, transparent background.

    Rendered at SUPERSAMPLE times the size and box-filtered down, so edges are anti-aliased.
    """
    toward, right, up = np.asarray(toward, float), np.asarray(right, float), np.array([0.0, 1.0, 0.0])
    size = RENDER_SIZE * SUPERSAMPLE
    to_pixels = size / (2 * WORLD_HALF)
    cols = (mesh.vertices @ right + WORLD_HALF) * to_pixels - 0.5
    rows = (WORLD_HALF - mesh.vertices @ up) * to_pixels - 0.5
    depth = mesh.vertices @ toward
    light = 0.45 * -right + 0.6 * up + 0.65 * toward
    light /= np.linalg.norm(light)
    shade = 0.45 + 0.55 * np.clip(mesh.face_normals @ light, 0.0, 1.0)
    face_rgb = mesh.visual.face_colors[:, :3] * shade[:, None]
    zbuffer = np.full((size, size), -np.inf)
    image = np.zeros((size, size, 3))
    for face, (a, b, c) in enumerate(mesh.faces):
        if mesh.face_normals[face] @ toward <= 0:
            continue  # back face
        x, y, z = cols[[a, b, c]], rows[[a, b, c]], depth[[a, b, c]]
        x0, x1 = max(int(np.ceil(x.min())), 0), min(int(np.floor(x.max())), size - 1)
        y0, y1 = max(int(np.ceil(y.min())), 0), min(int(np.floor(y.max())), size - 1)
        area = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0])
        if x0 > x1 or y0 > y1 or abs(area) < 1e-12:
            continue
        px, py = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
        w0 = ((x[1] - px) * (y[2] - py) - (x[2] - px) * (y[1] - py)) / area
        w1 = ((x[2] - px) * (y[0] - py) - (x[0] - px) * (y[2] - py)) / area
        w2 = 1.0 - w0 - w1
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        pz = w0 * z[0] + w1 * z[1] + w2 * z[2]
        window = zbuffer[y0:y1 + 1, x0:x1 + 1]
        nearer = inside & (pz > window)
        window[nearer] = pz[nearer]
        image[y0:y1 + 1, x0:x1 + 1][nearer] = face_rgb[face]
    covered = np.isfinite(zbuffer).astype(float)
    blocks = (RENDER_SIZE, SUPERSAMPLE, RENDER_SIZE, SUPERSAMPLE)
    alpha = covered.reshape(blocks).mean(axis=(1, 3))
    rgb = (image * covered[..., None]).reshape(*blocks, 3).sum(axis=(1, 3))
    rgb /= np.maximum(covered.reshape(blocks).sum(axis=(1, 3)), 1.0)[..., None]
    return np.dstack([rgb, alpha * 255]).round().clip(0, 255).astype(np.uint8)


def toy_views(mesh: trimesh.Trimesh) -> dict[str, Image.Image]:
    return {name: Image.fromarray(render(mesh, toward, right), "RGBA") for name, (toward, right) in VIEWS.items()}


def toy_photo(mesh: trimesh.Trimesh, yaw_degrees: float = 35.0) -> Image.Image:
    """The rocket turned about +y, over a light backdrop with a soft vertical gradient (no alpha)."""
    turned = mesh.copy()
    turned.apply_transform(trimesh.transformations.rotation_matrix(np.radians(yaw_degrees), [0, 1, 0]))
    rgba = render(turned, VIEWS["front"][0], VIEWS["front"][1]).astype(float)
    fade = np.linspace(0.0, 1.0, RENDER_SIZE)[:, None, None]
    backdrop = np.array([242.0, 240.0, 234.0]) * (1 - fade) + np.array([226.0, 222.0, 214.0]) * fade
    alpha = rgba[..., 3:] / 255
    photo = rgba[..., :3] * alpha + backdrop * (1 - alpha)
    return Image.fromarray(photo.round().astype(np.uint8), "RGB")


def limb(start, end, radius: float) -> trimesh.Trimesh:
    """A capsule between two points."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    axis = end - start
    capsule = trimesh.creation.capsule(height=float(np.linalg.norm(axis)), radius=radius, count=(16, 16))
    capsule.apply_transform(trimesh.geometry.align_vectors([0, 0, 1], axis / np.linalg.norm(axis)))
    capsule.apply_translation((start + end) / 2)
    return capsule


def figure() -> trimesh.Trimesh:
    """A 1.8-unit character in a T-pose (+y up, facing +z, its left is +x), unioned into one closed mesh."""
    head = trimesh.creation.icosphere(subdivisions=3, radius=0.11)
    head.apply_translation([0, 1.68, 0])
    parts = [
        limb([0, 0.98, 0], [0, 1.38, 0], 0.15),  # torso
        limb([-0.09, 0.93, 0], [0.09, 0.93, 0], 0.12),  # pelvis
        limb([0, 1.4, 0], [0, 1.6, 0], 0.05),  # neck
        head,
    ]
    for side in (1.0, -1.0):
        parts += [
            limb([side * 0.1, 1.42, 0], [side * 0.2, 1.44, 0], 0.065),  # shoulder
            limb([side * 0.2, 1.44, 0], [side * 0.48, 1.44, 0], 0.05),  # upper arm
            limb([side * 0.48, 1.44, 0], [side * 0.74, 1.44, 0], 0.042),  # forearm
            limb([side * 0.77, 1.44, 0], [side * 0.85, 1.44, 0], 0.035),  # hand
            limb([side * 0.1, 0.9, 0], [side * 0.11, 0.5, 0], 0.07),  # thigh
            limb([side * 0.11, 0.5, 0], [side * 0.11, 0.09, 0], 0.055),  # shin
            limb([side * 0.11, 0.05, -0.03], [side * 0.11, 0.05, 0.15], 0.045),  # foot
        ]
    body = trimesh.boolean.union(parts, engine="manifold")
    body.visual = trimesh.visual.TextureVisuals(
        material=trimesh.visual.material.PBRMaterial(baseColorFactor=[225, 170, 120, 255], roughnessFactor=0.7, metallicFactor=0.0)
    )
    return body


def parts_scene() -> trimesh.Scene:
    """Three named parts side by side: a cup open at the top, a sphere with its cap cut off, a closed block."""
    cup = upright(trimesh.creation.cylinder(radius=0.25, height=0.45, sections=40))
    cup.update_faces(~((cup.face_normals[:, 1] > 0.99) & (cup.triangles_center[:, 1] > 0.2)))
    cup.remove_unreferenced_vertices()
    dome = trimesh.creation.icosphere(subdivisions=3, radius=0.25)
    dome.update_faces(dome.triangles_center[:, 1] < 0.12)
    dome.remove_unreferenced_vertices()
    block = trimesh.creation.box(extents=(0.35, 0.3, 0.35))
    scene = trimesh.Scene()
    colours = {"cup": [230, 120, 60, 255], "dome": [90, 170, 110, 255], "block": [90, 120, 210, 255]}
    for offset, (name, mesh) in zip((-0.7, 0.0, 0.7), [("cup", cup), ("dome", dome), ("block", block)]):
        mesh.visual = trimesh.visual.TextureVisuals(
            material=trimesh.visual.material.PBRMaterial(
                baseColorFactor=colours[name], metallicFactor=0.0, doubleSided=True, name=name)
        )
        scene.add_geometry(mesh, node_name=name, geom_name=name,
                           transform=trimesh.transformations.translation_matrix([offset, 0.0, 0.0]))
    return scene


def main(folder: Path = HERE) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_obj_zip(textured_box(), folder / "textured_box.zip")
    (folder / "colored_torus.ply").write_bytes(
        trimesh.exchange.ply.export_ply(colored_torus(), encoding="binary")
    )
    (folder / "capsule.glb").write_bytes(trimesh.exchange.gltf.export_glb(trimesh.Scene(capsule())))
    rocket = toy_rocket()
    for name, image in toy_views(rocket).items():
        image.save(folder / f"toy_{name}.png", optimize=True)
    toy_photo(rocket).save(folder / "toy_photo.jpg", quality=90)
    (folder / "figure.glb").write_bytes(trimesh.exchange.gltf.export_glb(trimesh.Scene(figure())))
    (folder / "parts.glb").write_bytes(trimesh.exchange.gltf.export_glb(parts_scene()))
    for path in sorted(folder.glob("*.*")):
        if path.suffix != ".py":
            print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
