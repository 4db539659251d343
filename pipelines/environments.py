"""Model environments: one spec per model, and the installer that gives the model a Python of its own.

A model that pins its own torch build and CUDA extensions cannot share the studio's environment. Each model
is declared once in `pipelines/specs/NAME.toml` (upstream, pinned packages, weights, features, VRAM,
licence); `python app.py models install NAME` builds a virtual environment for it under the models home
(`STUDIO_MODELS_HOME`, default `~/.cache/3d-studio/models`), and the model's worker process then runs with
that environment's interpreter (`Pipeline.environment`). The studio itself never imports the model's code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .base import FEATURES, GiB, folder_bytes
from .errors import InputError

SPECS = Path(__file__).parent / "specs"
ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "installed.json"
INSTALL = "python app.py models install"
# What the worker (queueing/worker.py and the shared mesh code) imports, besides the model's own packages.
WORKER_PACKAGES = ("numpy", "scipy", "pillow", "trimesh", "xatlas", "fast-simplification", "manifold3d",
                   "networkx", "opencv-python-headless", "psutil", "pygltflib", "huggingface_hub", "tqdm")


@dataclass(frozen=True)
class ModelSpec:
    """One model as `pipelines/specs/NAME.toml` declares it."""

    name: str
    label: str
    features: tuple[str, ...]
    vram_gib: float
    licence: dict
    upstream: dict
    check: str
    torch: tuple[str, ...] = ()
    torch_index: str = ""
    requirements: tuple[str, ...] = ()
    # Installed without their dependencies, after `requirements`: packages that declare one the spec provides
    # otherwise (timm declares torchvision, which `torch` pins; resolving it would pull a torch build).
    no_deps: tuple[str, ...] = ()
    weights: tuple[dict, ...] = ()  # each {repo, files (patterns, optional), gib}

    @classmethod
    def read(cls, path: Path) -> ModelSpec:
        data = tomllib.loads(path.read_text())
        python = data.pop("python", {})
        spec = cls(features=tuple(data.pop("features")), weights=tuple(data.pop("weights", ())),
                   torch=tuple(python.get("torch", ())),
                   torch_index=python.get("torch_index", ""), requirements=tuple(python.get("requirements", ())),
                   no_deps=tuple(python.get("no_deps", ())), **data)
        spec.validate(path.stem)
        return spec

    def validate(self, stem: str) -> None:
        """Refuse a spec that is not pinned or names what the studio does not know."""
        problems = [f"its name {self.name!r} differs from its file name"] if self.name != stem else []
        problems += [f"unknown feature {f!r}" for f in self.features if f not in FEATURES]
        problems += [f"{r!r} is not pinned with ==" for r in (*self.torch, *self.requirements, *self.no_deps)
                     if "==" not in r]
        if not {"pypi"} <= set(self.upstream) and not {"git", "commit"} <= set(self.upstream):
            problems.append("its upstream needs `pypi`, or `git` and `commit`")
        if not {"name", "applies"} <= set(self.licence):
            problems.append("its licence needs `name` and `applies`")
        if problems:
            raise ValueError(f"Model spec {stem}: " + "; ".join(problems))


def specs(folder: Path | None = None) -> dict[str, ModelSpec]:
    folder = Path(os.environ.get("STUDIO_MODEL_SPECS", SPECS)) if folder is None else folder
    return {path.stem: ModelSpec.read(path) for path in sorted(folder.glob("*.toml"))}


def spec(name: str) -> ModelSpec:
    known = specs()
    if name not in known:
        raise InputError(f"No model called {name!r}; the models are: {', '.join(known) or 'none'}.")
    return known[name]


def home() -> Path:
    return Path(os.environ.get("STUDIO_MODELS_HOME", Path.home() / ".cache" / "3d-studio" / "models")).expanduser()


def env_dir(name: str) -> Path:
    return home() / name


def installed(name: str) -> dict | None:
    """The manifest of an installed model's environment, or None."""
    try:
        return json.loads((env_dir(name) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def installed_weights(name: str, repo: str) -> str | None:
    """The local folder `name`'s install was given for weights repository `repo`, if any."""
    return ((installed(name) or {}).get("weights") or {}).get(repo)


def interpreter(name: str) -> str | None:
    """The Python of `name`'s environment, if it is installed."""
    manifest = installed(name)
    if manifest is None:
        return None
    python = env_dir(name) / manifest["python"]
    return str(python) if python.exists() else None


def install_command(name: str) -> str:
    """The command that installs `name`, with its licence, for messages that say what is missing."""
    licence = spec(name).licence
    return f"{INSTALL} {name} ({licence['name']}: {licence['applies']})"


def listing() -> list[dict]:
    """Every model: installed or not, its disk use, licence and VRAM, and the command that installs it."""
    rows = []
    for name, model in specs().items():
        manifest = installed(name)
        rows.append({
            "name": name, "label": model.label, "features": list(model.features), "vram_gib": model.vram_gib,
            "installed": manifest is not None,
            "disk_gib": round(manifest["disk_bytes"] / GiB, 3) if manifest else 0.0,
            "licence": model.licence["name"], "licence_applies": model.licence["applies"],
            "weights_gib": sum(w.get("gib", 0.0) for w in model.weights),
            "command": f"{INSTALL} {name}",
        })
    return rows


# -- installing -------------------------------------------------------------------------------------------
Report = Callable[[str], None]


def install(name: str, source: str | None = None, weights: str | None = None, studio_torch: bool = False,
            report: Report = print) -> dict:
    """Build `name`'s environment: venv, torch, the upstream, its packages, the weights; then import-check it.

    `source` is a folder or tarball of the upstream (for machines without internet); `weights` a folder
    holding the weights already (see `_weights`). `studio_torch` makes the environment see the studio's own packages,
    torch included, instead of installing the model's torch pin (for CPU-only test machines).
    A failed install leaves nothing behind.
    """
    model = spec(name)
    target = env_dir(name)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    try:
        python = _make_venv(target, studio_torch, report)
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        if not studio_torch:
            if model.torch:
                report(f"installing {' '.join(model.torch)}")
                _run([*pip, *model.torch, *(["--index-url", model.torch_index] if model.torch_index else [])])
            report("installing the studio's worker packages")
            _run([*pip, *_worker_pins(model)])
        paths = _install_upstream(model, target, python, pip, source, report)
        if model.requirements:
            report(f"installing {len(model.requirements)} packages")
            _run([*pip, *model.requirements])
        if model.no_deps:
            report(f"installing {' '.join(model.no_deps)} without their dependencies")
            _run([*pip, "--no-deps", *model.no_deps])
        weights_dir = _weights(model, weights, report)
        report(f"checking: import {model.check}")
        _run([str(python), "-c", f"import {model.check}"], cwd=ROOT)
        # Measured once here: listings (the System tab, /system_status) read it instead of walking the venv.
        manifest = {"name": name, "upstream": model.upstream, "python": str(python.relative_to(target)),
                    "paths": paths, "studio_torch": studio_torch, "weights": weights_dir,
                    "disk_bytes": folder_bytes(target), "installed": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (target / MANIFEST).write_text(json.dumps(manifest, indent=2))
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    report(f"installed {name} in {target} ({manifest['disk_bytes'] / GiB:.2f} GiB)")
    return manifest


def remove(name: str) -> bool:
    target = env_dir(name)
    if not target.exists():
        return False
    shutil.rmtree(target)
    return True


class InstallError(RuntimeError):
    """A step of an install failed; the message names the command and ends with its output."""


def _run(command: list[str], cwd: Path | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise InstallError(f"{' '.join(command[:6])} ... failed:\n" + "\n".join(tail))


def _make_venv(target: Path, studio_torch: bool, report: Report) -> Path:
    report(f"creating the environment in {target}")
    shared = ["--system-site-packages"] if studio_torch else []
    _run([sys.executable, "-m", "venv", *shared, str(target / "venv")])
    return target / "venv" / "bin" / "python"


def _worker_pins(model: ModelSpec) -> list[str]:
    """The studio's pins of what the worker imports, except packages the model pins itself (its pin wins)."""
    own = {r.split("==")[0].lower() for r in model.requirements}
    pins = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    return [p for p in pins if p and p.split("==")[0].lower() in WORKER_PACKAGES and p.split("==")[0].lower() not in own]


def _install_upstream(model: ModelSpec, target: Path, python: Path, pip: list[str], source: str | None,
                      report: Report) -> list[str]:
    """Install the upstream: a PyPI package, or its code (git commit, folder or tarball) on the path."""
    upstream = model.upstream
    if "pypi" in upstream and source is None:
        report(f"installing {upstream['pypi']}")
        _run([*pip, *(["--no-deps"] if upstream.get("no_deps") else []), upstream["pypi"]])
        return []
    code = target / "src"
    if source is None:
        report(f"cloning {upstream['git']} at {upstream['commit']}")
        _run(["git", "clone", "--quiet", upstream["git"], str(code)])
        _run(["git", "-C", str(code), "checkout", "--quiet", upstream["commit"]])
    elif Path(source).is_dir():
        report(f"copying the upstream from {source}")
        shutil.copytree(source, code, symlinks=True)
    elif tarfile.is_tarfile(source):
        report(f"unpacking the upstream from {Path(source).name}")
        with tarfile.open(source) as archive:
            archive.extractall(code, filter="data")
    else:
        raise InstallError(f"--source {source} is neither a folder nor a tarball of {model.name}'s code.")
    paths = [str((code / p).resolve()) for p in upstream.get("paths", ["."])]
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, f"studio-{model.name}.pth").write_text("\n".join(paths) + "\n")
    return paths


def _weights(model: ModelSpec, weights: str | None, report: Report) -> dict[str, str]:
    """Each weights repository's local folder, from `weights` (one subfolder per repository, named by its last
    part: `--weights DIR` holds DIR/shap-e and DIR/shap-e-img2img); else they go to the hub cache with progress
    and the adapters find them there ({})."""
    if weights is not None:
        folders = {w["repo"]: Path(weights, w["repo"].split("/")[-1]) for w in model.weights}
        missing = [str(f.name) for f in folders.values() if not f.is_dir()]
        if missing:
            raise InstallError(f"--weights {weights} lacks the folder(s) {', '.join(missing)}: it holds one folder "
                               "per weights repository, named by the repository's last part.")
        return {repo: str(folder.resolve()) for repo, folder in folders.items()}
    from huggingface_hub import snapshot_download
    from tqdm.auto import tqdm

    for entry in model.weights:
        report(f"downloading the weights of {entry['repo']} (about {entry.get('gib', 0):g} GiB)")
        snapshot_download(entry["repo"], allow_patterns=entry.get("files"), tqdm_class=tqdm)
    return {}


# -- the command line ------------------------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    """`python app.py models list|install NAME|remove NAME`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python app.py models", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every model: installed or not, disk use, licence")
    add = commands.add_parser("install", help="build a model's environment")
    add.add_argument("name")
    add.add_argument("--source", help="a folder or tarball of the upstream's code (no internet needed)")
    add.add_argument("--weights", help="a folder that holds the weights already")
    add.add_argument("--studio-torch", action="store_true",
                     help="use the studio's torch and packages instead of the model's torch pin (CPU test machines)")
    drop = commands.add_parser("remove", help="delete a model's environment")
    drop.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for row in listing():
                state = f"installed, {row['disk_gib']:.2f} GiB" if row["installed"] else f"not installed: {row['command']}"
                print(f"{row['name']:<18} {state}\n{'':<18} {row['label']}; features {', '.join(row['features'])}; "
                      f"{row['vram_gib']:g} GiB VRAM; licence {row['licence']} ({row['licence_applies']})")
        elif args.command == "install":
            install(args.name, args.source, args.weights, args.studio_torch)
        elif not remove(spec(args.name).name):
            print(f"{args.name} is not installed.")
    except (InputError, InstallError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
