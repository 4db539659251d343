"""Binary FBX as a tree of nodes: read, edit the few properties assimp gets wrong, write back.

assimp writes FBX materials as classic Phong with its template's `ReflectionFactor` of 1 and a
`Shininess` of up to 1000, so Blender (which reads `ReflectionFactor` as metallic and `Shininess`
as roughness = 1 - sqrt(shininess) / 10) imports every material as polished chrome. The studio
writes the PBR values in the terms Blender's own FBX exporter uses, and the loader reads them back
the same way. Arrays stay as the raw (possibly compressed) bytes they were read as.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass, field

MAGIC = b"Kaydara FBX Binary  \x00\x1a\x00"
HEADER_SIZE = len(MAGIC) + 4
FOOTER_TAIL = 4 + 4 + 120 + 16  # zeros, version, zeros, closing magic
SCALARS = {b"Y": "<h", b"C": "<?", b"I": "<i", b"F": "<f", b"D": "<d", b"L": "<q"}
ARRAY_ITEM_BYTES = {b"f": 4, b"d": 8, b"l": 8, b"i": 4, b"b": 1}
# The specular level Blender's glTF importer gives a PBR material (FBX SpecularFactor = level / 2).
SPECULAR_FACTOR = 0.25


class FbxError(ValueError):
    """The bytes are not a binary FBX this reader can follow."""


@dataclass
class Node:
    name: bytes
    properties: list = field(default_factory=list)  # (type code, value); arrays keep their raw bytes
    children: list["Node"] = field(default_factory=list)
    closed: bool = False  # written with an empty-record terminator even without children

    def child(self, name: bytes) -> "Node | None":
        return next((c for c in self.children if c.name == name), None)


@dataclass
class Document:
    version: int
    nodes: list[Node]
    footer_id: bytes
    array_bytes: int  # what every array holds once decompressed: a bound on the reader's memory

    def find(self, *names: bytes) -> "Node | None":
        node = Node(b"", children=self.nodes)
        for name in names:
            node = node.child(name) if node else None
        return node


def is_binary_fbx(head: bytes) -> bool:
    return head.startswith(MAGIC[:20])


def read_fbx(data: bytes) -> Document:
    if not data.startswith(MAGIC) or len(data) < HEADER_SIZE + FOOTER_TAIL:
        raise FbxError("not a binary FBX file")
    version = struct.unpack_from("<I", data, len(MAGIC))[0]
    reader = _Reader(data, version)
    nodes = reader.nodes(HEADER_SIZE, len(data) - FOOTER_TAIL)
    return Document(version, nodes, data[reader.position:reader.position + 16], reader.array_bytes)


class _Reader:
    def __init__(self, data: bytes, version: int):
        self.data, self.position, self.array_bytes = data, 0, 0
        self.wide = version >= 7500
        self.record = struct.Struct("<QQQB" if self.wide else "<IIIB")

    def nodes(self, start: int, end: int) -> list[Node]:
        """Nodes from `start` until an empty record; `position` ends just past it."""
        nodes, self.position = [], start
        while True:
            if self.position + self.record.size > end:
                raise FbxError("the node list runs past the end of the file")
            node_end, count, _, name_length = self.record.unpack_from(self.data, self.position)
            self.position += self.record.size
            if node_end == 0:
                return nodes
            if not self.position < node_end <= end:
                raise FbxError("a node's end offset points outside its parent")
            name = self.data[self.position:self.position + name_length]
            self.position += name_length
            properties = [self.property() for _ in range(count)]
            node = Node(name, properties)
            if self.position < node_end:
                node.children = self.nodes(self.position, node_end)
                node.closed = True
            if self.position != node_end:
                raise FbxError("a node's contents do not match its declared size")
            nodes.append(node)

    def property(self) -> tuple[bytes, object]:
        code = self.data[self.position:self.position + 1]
        self.position += 1
        if code in SCALARS:
            fmt = SCALARS[code]
            value = struct.unpack_from(fmt, self.data, self.position)[0]
            self.position += struct.calcsize(fmt)
            return code, value
        if code in ARRAY_ITEM_BYTES:
            length, _, packed = struct.unpack_from("<III", self.data, self.position)
            self.array_bytes += length * ARRAY_ITEM_BYTES[code]
            raw = self.data[self.position:self.position + 12 + packed]
            self.position += 12 + packed
            return code, raw
        if code in (b"S", b"R"):
            length = struct.unpack_from("<I", self.data, self.position)[0]
            value = self.data[self.position + 4:self.position + 4 + length]
            self.position += 4 + length
            return code, value
        raise FbxError(f"unknown property type {code!r}")


def write_fbx_bytes(document: Document) -> bytes:
    out = io.BytesIO()
    out.write(MAGIC + struct.pack("<I", document.version))
    record = struct.Struct("<QQQB" if document.version >= 7500 else "<IIIB")
    for node in document.nodes:
        _write_node(out, node, record)
    out.write(b"\0" * record.size)
    out.write(document.footer_id)
    # Padding to the next 16-byte boundary (a whole 16 when aligned), four zero bytes, the version,
    # 120 zero bytes and the closing magic, as assimp and the FBX SDK write it.
    out.write(b"\0" * ((-out.tell() % 16 or 16) + 4) + struct.pack("<I", document.version) + b"\0" * 120)
    out.write(b"\xf8\x5a\x8c\x6a\xde\xf5\xd9\x7e\xec\xe9\x0c\xe3\x75\x8f\x29\x0b")
    return out.getvalue()


def _write_node(out: io.BytesIO, node: Node, record: struct.Struct) -> None:
    start = out.tell()
    out.write(b"\0" * record.size + node.name)
    properties_start = out.tell()
    for code, value in node.properties:
        out.write(code)
        if code in SCALARS:
            out.write(struct.pack(SCALARS[code], value))
        elif code in ARRAY_ITEM_BYTES:
            out.write(value)
        else:
            out.write(struct.pack("<I", len(value)) + value)
    properties_length = out.tell() - properties_start
    if node.children or node.closed:
        for child in node.children:
            _write_node(out, child, record)
        out.write(b"\0" * record.size)
    end = out.tell()
    out.seek(start)
    out.write(record.pack(end, len(node.properties), properties_length, len(node.name)))
    out.seek(end)


# -- materials --------------------------------------------------------------------------------


def object_name(node: Node) -> str:
    """`Material::name` is stored as `name\\x00\\x01Material`."""
    raw = node.properties[1][1] if len(node.properties) > 1 else b""
    return raw.split(b"\x00\x01")[0].decode("utf-8", "replace")


def shininess_from_roughness(roughness: float) -> float:
    return (10.0 * (1.0 - min(max(roughness, 0.0), 1.0))) ** 2


def roughness_from_shininess(shininess: float) -> float:
    return min(max(1.0 - math.sqrt(max(shininess, 0.0)) / 10.0, 0.0), 1.0)


def number(name: str, value: float) -> Node:
    """A Properties70 entry holding one animatable number."""
    return Node(b"P", [(b"S", name.encode()), (b"S", b"Number"), (b"S", b""), (b"S", b"A"), (b"D", float(value))])


def property_values(properties70: Node | None) -> dict[str, tuple]:
    """Properties70 entries by name: their values after the four type/label/flag strings."""
    if properties70 is None:
        return {}
    return {p.properties[0][1].decode("utf-8", "replace"): tuple(v for _, v in p.properties[4:])
            for p in properties70.children if p.name == b"P" and p.properties}


def set_numbers(properties70: Node, values: dict[str, float]) -> None:
    properties70.children = [p for p in properties70.children
                             if not (p.properties and p.properties[0][1].decode("utf-8", "replace") in values)]
    properties70.children += [number(name, value) for name, value in values.items()]


def set_pbr(document: Document, factors: dict[str, tuple[float, float]], default: tuple[float, float]) -> None:
    """Write each material's (metallic, roughness) in the Phong terms Blender reads.

    Materials are matched by name; one `factors` does not name gets `default`.
    """
    for node in _materials(document):
        metallic, roughness = factors.get(object_name(node), default)
        properties70 = node.child(b"Properties70")
        if properties70 is None:
            properties70 = Node(b"Properties70", closed=True)
            node.children.append(properties70)
        shininess = shininess_from_roughness(roughness)
        set_numbers(properties70, {"ReflectionFactor": metallic, "Shininess": shininess,
                                   "ShininessExponent": shininess, "SpecularFactor": SPECULAR_FACTOR})


def read_pbr(document: Document) -> dict[str, tuple[float, float]]:
    """(metallic, roughness) by material name, as Blender's FBX importer reads them."""
    template = {}
    definitions = document.find(b"Definitions")
    for kind in definitions.children if definitions else []:
        if kind.name == b"ObjectType" and kind.properties and kind.properties[0][1] == b"Material":
            templates = kind.child(b"PropertyTemplate")
            template = property_values(templates.child(b"Properties70") if templates else None)
    found = {}
    for node in _materials(document):
        values = {**template, **property_values(node.child(b"Properties70"))}
        metallic = float(values.get("ReflectionFactor", (0.0,))[0])
        roughness = roughness_from_shininess(float(values.get("Shininess", (20.0,))[0]))
        found[object_name(node)] = (min(max(metallic, 0.0), 1.0), roughness)
    return found


def _materials(document: Document) -> list[Node]:
    objects = document.find(b"Objects")
    return [n for n in (objects.children if objects else []) if n.name == b"Material"]
