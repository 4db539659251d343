"""Placeholders only: timm imports dataset classes at import time."""

from ._placeholder import placeholder_module_getattr

__getattr__ = placeholder_module_getattr(__name__)
