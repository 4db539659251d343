"""One module per tab; each has `build(studio)` that lays out its components and wires its events.

Adding a feature is one module here plus its name in `TABS` (in the order the tabs appear).
"""

TABS = [
    "paint_mesh",
    "segment_mesh",
    "mesh_tools",
    "system",
]
