"""A test-only stand-in for torchvision, which has no CPU build on the test machines.

It implements, in plain torch, exactly the transforms the Hunyuan3D image encoders call (hy3dgen's and
hy3dshape's conditioner: Compose, Resize with bilinear antialiasing, CenterCrop, Normalize). Everything
else is a name that timm imports at import time (hy3dshape imports timm for three layer classes its
inference never builds): those names exist so the imports succeed, and using one raises. Nothing here
ships with the studio; the tests put this folder on a worker's path only when torchvision is missing.
"""

from . import transforms  # noqa: F401
from ._placeholder import placeholder_module_getattr

__version__ = "0.0.0+tests.standin"
__getattr__ = placeholder_module_getattr(__name__)
