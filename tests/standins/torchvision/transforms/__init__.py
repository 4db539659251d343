"""torch versions of the transforms the Hunyuan3D image encoders compose, on (N, C, H, W) float tensors."""

import torch.nn.functional as F

from .._placeholder import placeholder_module_getattr
from .functional import InterpolationMode

__getattr__ = placeholder_module_getattr(__name__)


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for transform in self.transforms:
            x = transform(x)
        return x


class Resize:
    """Shorter side to `size` (an int), bilinear, as torchvision does for tensors."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, antialias=True):
        if interpolation != InterpolationMode.BILINEAR or not isinstance(size, int):
            raise NotImplementedError("the stand-in Resize does an int size with bilinear interpolation only")
        self.size, self.antialias = size, antialias

    def __call__(self, x):
        h, w = x.shape[-2:]
        scale = self.size / min(h, w)
        return F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bilinear",
                             antialias=self.antialias, align_corners=False)


class CenterCrop:
    def __init__(self, size):
        self.size = size

    def __call__(self, x):
        h, w = x.shape[-2:]
        top, left = (h - self.size) // 2, (w - self.size) // 2
        return x[..., top:top + self.size, left:left + self.size]


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, x):
        mean = x.new_tensor(self.mean)[:, None, None]
        std = x.new_tensor(self.std)[:, None, None]
        return (x - mean) / std
