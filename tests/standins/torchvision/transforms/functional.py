"""Only InterpolationMode, which timm reads at import time; the functions are placeholders."""

from enum import Enum

from .._placeholder import placeholder_module_getattr

__getattr__ = placeholder_module_getattr(__name__)


class InterpolationMode(Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"
