"""Names the stand-in only has to define: using one says so instead of doing something wrong."""


def placeholder(qualname: str) -> type:
    class Placeholder:
        def __init__(self, *args, **kwargs):
            raise NotImplementedError(f"{qualname} is not part of the tests' torchvision stand-in "
                                      "(tests/standins/torchvision); install the real torchvision.")

    Placeholder.__name__ = Placeholder.__qualname__ = qualname.rsplit(".", 1)[-1]
    return Placeholder


def placeholder_module_getattr(module: str):
    """A module `__getattr__` (PEP 562) that answers every other public name with a placeholder class."""
    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return placeholder(f"{module}.{name}")

    return __getattr__
