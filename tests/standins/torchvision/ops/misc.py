"""Placeholders only: timm imports `ops.misc.FrozenBatchNorm2d` at import time."""

from .._placeholder import placeholder_module_getattr

__getattr__ = placeholder_module_getattr(__name__)
