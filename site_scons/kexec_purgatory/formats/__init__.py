# SPDX-License-Identifier: GPL-2.0-only
"""The forms a purgatory is written in, one module each, and their registry.

Each form's module has its writer and its reader: ``c_array``
(kexec-purgatory.c), ``incbin`` (kexec-purgatory.S) and ``ihex``
(purgatory.hex, the image relocated at a load address), plus ``elf``
(purgatory.ro itself, read only). A reader is ``detect(path, data)`` and
``read(path, data) -> Blob``; ``kernel_image`` reads the purgatory a
built kernel carries (vmlinux, bzImage, s390 image, riscv Image). A new
form plugs in by adding its module's name to ``WRITTEN`` (the forms a
build writes) and ``READERS``. The modules are imported when used: every
build and every ``kexec-purgatory embed`` loads this package, and should
not pay for the readers.
"""

import importlib

from ..errors import UserError
from ..files import read_bytes

# The embedded forms a build can write, in the order they are written:
# FORMATS name -> module.
WRITTEN = {"c": "c_array", "S": "incbin", "ihex": "ihex"}
FORMATS = tuple(WRITTEN)
DEFAULT_FORMATS = "c,S"

# Tried in order: the binary forms first (a kernel image before a plain
# object: its test takes only executables, headers and compressed streams),
# C last (its test is the loosest).
READERS = ("kernel_image", "elf", "ihex", "incbin", "c_array")


def form(name):
    """The module of a form, by module name (``READERS``) or FORMATS name."""
    return importlib.import_module(f".{WRITTEN.get(name, name)}", __name__)


def parse_formats(value, variable="FORMATS"):
    """``"c,S"`` -> ``("c", "S")`` in the order of FORMATS, each once."""
    words = value if isinstance(value, (list, tuple)) else \
        [w.strip() for w in str(value).split(",")]
    unknown = [w for w in words if w not in FORMATS]
    if unknown or not any(words):
        raise UserError(f"{variable}: unknown format {', '.join(unknown) or repr(value)}"
                        f" (choose from: {', '.join(FORMATS)})")
    return tuple(f for f in FORMATS if f in words)


def relocated(blob, base, name):
    """An ELF blob as the kernel would load it at ``base``: (image bytes,
    [(section name, offset in the image, size)]), to compare with an image."""
    from ..elf import loader     # the kernel-faithful loader
    loaded = loader.load(blob.data, name, base)
    sections = sorted((p.offset, p.name, p.size) for p in loaded.sections.values())
    return bytes(loaded.image), [(n, o, s) for o, n, s in sections]


def read_blob(path):
    """The purgatory ``path`` holds, in whichever form it is written."""
    data = read_bytes(path)
    for reader in map(form, READERS):
        if reader.detect(path, data):
            return reader.read(path, data)
    raise UserError(f"{path}: not a purgatory (neither an ELF object, a kernel "
                    "image, a C array, an .incbin assembler file nor Intel HEX)")


def read_object(path):
    """(bytes, name) of the purgatory object ``path`` is or holds, for the
    commands that take an object: a kernel image's purgatory, named
    ``IMAGE[purgatory]``; any other file's bytes as they are, under its own
    name (the command's ELF checks then say what is wrong with it)."""
    data = read_bytes(path)
    kernel_image = form("kernel_image")
    if kernel_image.detect(path, data):
        blob = kernel_image.read(path, data)
        return blob.data, blob.name
    return data, str(path)
