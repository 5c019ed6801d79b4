# SPDX-License-Identifier: GPL-2.0-only
"""Opening ELF files with pyelftools, with errors that name the file.

All ELF reading in this package goes through pyelftools; this module only
turns its exceptions (and the ones a damaged file provokes in it) into
``UserError`` so callers print one line instead of a traceback.
"""

import contextlib
import functools
import io

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from . import ELF_MAGIC
from ..errors import UserError, reason
from ..files import read_bytes

# What pyelftools raises on truncated or corrupted input besides ELFError
# (RecursionError: Debian 12's 0.29 on a section retyped as a symbol table).
DAMAGED_ELF_ERRORS = (ELFError, ValueError, KeyError, IndexError,
                      AssertionError, EOFError, OverflowError, TypeError,
                      MemoryError, RecursionError, io.UnsupportedOperation)


class _ParsedOnce(ELFFile):
    """An ELFFile that parses each section header, symbol and relocation
    once. pyelftools parses them anew on every access, and the checker's
    rules, the loader and the structure checks each walk the same tables:
    on riscv64's purgatory (hundreds of symbols) that was most of the time
    of every command. The bytes never change, so what was parsed stays
    true."""

    def get_section(self, n, *rest):
        if rest:                        # a type check (pyelftools >= 0.30)
            return super().get_section(n, *rest)
        sections = self.__dict__.setdefault("_parsed_sections", {})
        section = sections.get(n)
        if section is None:
            section = sections[n] = super().get_section(n)
            if isinstance(section, SymbolTableSection):
                section.get_symbol = functools.lru_cache(None)(section.get_symbol)
            elif isinstance(section, RelocationSection):
                section.get_relocation = functools.lru_cache(None)(
                    section.get_relocation)
        return section


def parse_elf(data, name):
    """Return an ELFFile over ``data`` (bytes), or raise UserError naming ``name``."""
    try:
        return _ParsedOnce(io.BytesIO(data))
    except DAMAGED_ELF_ERRORS as e:
        raise UserError(f"{name}: not an ELF object ({reason(e)})") from None


class _InPlace(io.RawIOBase):
    """``data`` from ``start`` on as a read-only stream, without a copy."""

    def __init__(self, data, start):
        super().__init__()
        self._view = memoryview(data)[start:]
        self._at = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._at

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at,
                io.SEEK_END: len(self._view)}[whence]
        self._at = max(0, base + offset)
        return self._at

    def read(self, size=-1):
        # Never more than there is (RawIOBase's own read() would allocate
        # ``size`` bytes first, and a damaged header asks for any size).
        end = len(self._view) if size is None or size < 0 else self._at + size
        chunk = bytes(self._view[self._at:end])
        self._at += len(chunk)
        return chunk

    def readinto(self, buffer):
        chunk = self.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)


def embedded_elf(data, offset):
    """The ELF object that starts at ``offset`` in ``data`` as pyelftools
    reads it, in place (a kernel image's tens of MiB are not copied for
    each "\x7fELF" in them), or None where pyelftools cannot read its
    headers. For finding an object and its extent: parse what is found
    with ``parse_elf``."""
    if data[offset:offset + 4] != ELF_MAGIC:
        return None
    try:
        return ELFFile(_InPlace(data, offset))
    except DAMAGED_ELF_ERRORS:
        return None


def open_elf(path):
    """Read ``path`` and return an ELFFile over its bytes (file closed already)."""
    return parse_elf(read_bytes(path), path)


@contextlib.contextmanager
def damaged_elf_is_user_error(name):
    """Turn a pyelftools failure while walking a file into a UserError."""
    try:
        yield
    except DAMAGED_ELF_ERRORS as e:
        raise UserError(f"{name}: damaged ELF object ({reason(e)})") from None


def symtab_symbols(elf):
    """Every symbol of every SHT_SYMTAB section, in the order the kernel's
    lookup scans them (it reads no other symbol table)."""
    return [sym for section in elf.iter_sections()
            if section["sh_type"] == "SHT_SYMTAB"
            for sym in section.iter_symbols()]


def first_global(symbols, name):
    """The kernel's symbol lookup: the first STB_GLOBAL symbol called
    ``name`` (WEAK and LOCAL ones are invisible to it), or None."""
    return next((sym for sym in symbols if sym.name == name
                 and sym["st_info"]["bind"] == "STB_GLOBAL"), None)
