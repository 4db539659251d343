"""Hugging Face Space entry point: the studio with Space settings.

In a Space the studio's code sits in `studio/` next to this file (README.md says how to
assemble it); in the repository it is the parent folder. Inside a Space (SPACE_ID is set)
the studio listens on 0.0.0.0 and the port the Space gives; every other setting comes
from the studio's STUDIO_* environment variables, as with `python app.py`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STUDIO = HERE / "studio" if (HERE / "studio" / "app.py").is_file() else HERE.parent
sys.path.insert(0, str(STUDIO))

import app as studio_app  # noqa: E402  (the studio's app.py, found through STUDIO)


def space_argv(environ=os.environ) -> list[str]:
    """Flags a Space needs on top of the environment: its address and port."""
    if "SPACE_ID" not in environ:
        return []
    port = environ.get("PORT") or environ.get("GRADIO_SERVER_PORT") or "7860"
    return ["--host", "0.0.0.0", "--port", port]


def build(argv: list[str] | None = None):
    """(demo, studio, args) ready to launch; nothing is loaded or bound yet."""
    args = studio_app.parse_args(space_argv() if argv is None else argv)
    studio = studio_app.studio_from_args(args)
    return studio_app.build_app(studio), studio, args


def main() -> None:
    demo, studio, args = build()
    studio_app.launch(demo, studio, args)


if __name__ == "__main__":
    main()
