# SPDX-License-Identifier: GPL-2.0-only
"""A purgatory read back from any form the build writes.

``diff`` and ``verify`` take ``purgatory.ro`` itself, the C array
(``kexec-purgatory.c``), the assembler file that ``.incbin``-s the object,
or an Intel HEX image of the relocated purgatory. Each form has one reader
in ``READERS``; a new output format plugs in by adding its reader there.
The first three give back the ELF object's bytes; Intel HEX gives a flat
memory image at a load address, which can only be compared with another
image.
"""

import dataclasses
import os
import re

from . import c_array_reader
from .errors import UserError
from .files import read_bytes

ELF_MAGIC = b"\x7fELF"


@dataclasses.dataclass(frozen=True)
class Blob:
    """What a file holds: ``kind`` is "elf" (the object's bytes) or
    "image" (a relocated image loaded at ``base``)."""
    kind: str
    data: bytes
    form: str                    # the reader's name, for messages
    base: int = 0


def _text(data, path):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None


def _is_elf(path, data):
    return data.startswith(ELF_MAGIC)


def _read_elf(path, data):
    return Blob("elf", data, "ELF object")


_C_ARRAY = re.compile(rb"\bchar\s+[A-Za-z_]\w*\s*\[")


def _is_c_array(path, data):
    return path.endswith((".c", ".h")) or bool(_C_ARRAY.search(data[:65536]))


def _read_c_array(path, data):
    _, blob = c_array_reader.read_c_array(_text(data, path), path)
    return Blob("elf", blob, "C array")


_INCBIN = re.compile(r'^\s*\.incbin\s+"((?:\\.|[^"\\])*)"\s*(?:,\s*(\w+))?'
                     r'\s*(?:,\s*(\w+))?\s*(?:[#;].*)?$', re.MULTILINE)


def _is_incbin(path, data):
    return path.endswith((".S", ".s")) or b".incbin" in data[:65536]


def _read_incbin(path, data):
    """The file an assembler source includes with ``.incbin``, which the
    assembler looks up beside the source (then in the current directory)."""
    found = _INCBIN.findall(_text(data, path))
    if len(found) != 1:
        raise UserError(f"{path}: expected exactly one .incbin, "
                        f"found {len(found)}")
    name, skip, count = found[0]
    candidates = [os.path.join(os.path.dirname(path), name), name]
    target = next((c for c in candidates if os.path.isfile(c)), None)
    if target is None:
        raise UserError(f"{path}: .incbin file {name!r} not found beside it")
    try:
        skip = int(skip, 0) if skip else 0
        count = int(count, 0) if count else None
    except ValueError:
        raise UserError(f"{path}: .incbin skip/count must be numbers") from None
    blob = read_bytes(target)[skip:None if count is None else skip + count]
    return Blob("elf", blob, f".incbin of {name}")


def _is_intel_hex(path, data):
    return data.lstrip()[:1] == b":"


def _read_intel_hex(path, data):
    import intelhex          # only needed for this form
    hexfile = intelhex.IntelHex()
    try:
        hexfile.loadhex(path)
    except (intelhex.IntelHexError, ValueError) as e:
        raise UserError(f"{path}: bad Intel HEX ({e})") from None
    if hexfile.minaddr() is None:
        raise UserError(f"{path}: Intel HEX without data")
    base = hexfile.minaddr()
    return Blob("image", bytes(hexfile.tobinarray(start=base)),
                "Intel HEX image", base)


# (name, detect(path, data), read(path, data) -> Blob), tried in order.
READERS = (
    ("elf", _is_elf, _read_elf),
    ("intel-hex", _is_intel_hex, _read_intel_hex),
    ("incbin", _is_incbin, _read_incbin),
    ("c-array", _is_c_array, _read_c_array),
)


def relocated(blob, base, name):
    """An ELF blob as the kernel would load it at ``base``: (image bytes,
    [(section name, offset in the image, size)]), to compare with an image."""
    from . import loader     # the kernel-faithful loader
    loaded = loader.load(blob.data, name, base)
    sections = sorted((p.offset, p.name, p.size) for p in loaded.sections.values())
    return bytes(loaded.image), [(n, o, s) for o, n, s in sections]


def read_blob(path):
    """The purgatory ``path`` holds, in whichever form it is written."""
    data = read_bytes(path)
    for _, detect, read in READERS:
        if detect(path, data):
            return read(path, data)
    raise UserError(f"{path}: not a purgatory (neither an ELF object, a C "
                    "array, an .incbin assembler file nor Intel HEX)")
