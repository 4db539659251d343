"""One module per tab; each has `build(studio, demo)` that lays out its components and wires its events.

Adding a feature is one module here plus its name in `TABS` (in the order the tabs appear).
"""

TABS = [
    "text_to_3d",
    "image_to_3d",
    "paint_mesh",
    "segment_mesh",
    "rig_mesh",
    "complete_parts",
    "mesh_tools",
    "history",
    "system",
]
