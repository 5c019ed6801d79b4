# SPDX-License-Identifier: GPL-2.0-only
"""A kernel image as a form: the purgatory a built kernel carries.

The kernel embeds ``purgatory.ro`` in its ``.rodata`` between the symbols
``kexec_purgatory`` and ``kexec_purgatory_size``.  This reader finds it in:

- a ``vmlinux`` (an ELF ET_EXEC or ET_DYN, any machine): through those two
  symbols when it has a symbol table, as the kernel itself sees the blob;
  otherwise in its sections, as below;
- an x86 ``bzImage`` (``vmlinuz``): the setup header ("HdrS" at 0x202,
  boot protocol 2.08 and later) gives ``setup_sects`` (0x1f1; 0 means 4),
  ``payload_offset`` (0x248, from the start of the protected-mode code,
  which follows the ``(setup_sects + 1) * 512`` bytes of real-mode code)
  and ``payload_length`` (0x24c): Linux's Documentation/arch/x86/boot.rst
  ("Details of header fields").  The payload is the compressed vmlinux;
- an s390 ``image`` ("S390EP" at 0x10008) and anything else without such a
  header (a riscv ``Image``/``Image.gz``, an EFI zboot image): the first
  compressed stream in the file that decompresses (the way the kernel's
  scripts/extract-vmlinux looks for one), or the file itself when the blob
  is stored uncompressed (a riscv ``Image``).

Compressions: gzip, bzip2, lzma and xz (Python's own modules), zstd
(``zstandard``), lz4 in the kernel's legacy framing (``lz4``), lzo in
lzop's file format (``python-lzo``, optional: Debian's ``python3-lzo``;
formats/lzop.py).  Decompression stops at ``MAX_DECOMPRESSED`` bytes.

Without the symbols, the blob is the ELF relocatable object (ET_REL) of the
image's machine inside the decompressed bytes, its extent taken from its
own headers (the section header table's end and the furthest section end),
and kept only if pyelftools parses it whole.
"""

import bz2
import lzma
import re
import struct
import zlib

from .. import abi
from ..elf import ELF_MAGIC
from ..elf.reader import (DAMAGED_ELF_ERRORS, damaged_elf_is_user_error,
                          embedded_elf, parse_elf)
from ..errors import UserError, reason
from . import lzop
from .blob import Blob

NAME = "kernel-image"
DESCRIPTION = "kernel image"

# Refuse to decompress more than this: a kernel's payload is 20-120 MiB.
MAX_DECOMPRESSED = 512 << 20

BZIMAGE_MAGIC_OFFSET = 0x202            # "HdrS"
S390_MARKER_OFFSET = 0x10008            # "S390EP", arch/s390/boot/head.S
RISCV_MAGIC_OFFSET = 0x30               # "RISCV\0\0\0", riscv Image header
RISCV_MAGIC2_OFFSET = 0x38              # "RSC\x05"
ARM64_MAGIC_OFFSET = 0x38               # "ARM\x64"

# Magic numbers of the compressed streams, as scripts/extract-vmlinux
# searches for them.
COMPRESSIONS = (
    ("gzip", b"\x1f\x8b\x08"),
    ("xz", b"\xfd7zXZ\x00"),
    ("bzip2", b"BZh"),
    ("lzma", b"\x5d\x00\x00"),
    ("zstd", b"\x28\xb5\x2f\xfd"),
    ("lz4", b"\x02\x21\x4c\x18"),       # the legacy frame Kbuild writes
    ("lzo", b"\x89\x4c\x5a\x4f\x00\x0d\x0a\x1a\x0a"),
)


def purgatory_name(path):
    """How messages name the purgatory inside the image ``path``."""
    return f"{path}[purgatory]"


def _is_kernel_elf(data):
    """An ELF executable (a vmlinux), or an ELF file pyelftools cannot read
    (reading it as a vmlinux then says why in one line)."""
    if not data.startswith(ELF_MAGIC):
        return False
    elf = embedded_elf(data, 0)
    return elf is None or elf.header["e_type"] in ("ET_EXEC", "ET_DYN")


def _is_bzimage(data):
    return data[BZIMAGE_MAGIC_OFFSET:BZIMAGE_MAGIC_OFFSET + 4] == b"HdrS"


def _is_s390(data):
    return data[S390_MARKER_OFFSET:S390_MARKER_OFFSET + 6] == b"S390EP"


def _is_riscv(data):
    return (data[RISCV_MAGIC_OFFSET:RISCV_MAGIC_OFFSET + 8] == b"RISCV\0\0\0"
            or data[RISCV_MAGIC2_OFFSET:RISCV_MAGIC2_OFFSET + 4] == b"RSC\x05")


def _is_arm64(data):
    return data[ARM64_MAGIC_OFFSET:ARM64_MAGIC_OFFSET + 4] == b"ARM\x64"


def _compression_at_start(data):
    for name, magic in COMPRESSIONS:
        if name != "lzma" and data.startswith(magic):
            return name
    return None


def detect(path, data):
    return (_is_kernel_elf(data) or _is_bzimage(data) or _is_s390(data)
            or _is_riscv(data) or _is_arm64(data)
            or _compression_at_start(data) is not None)


# -- Decompression ------------------------------------------------------------

class _Damaged(Exception):
    """A compressed stream that does not decompress; the message says how."""


def _limited(path):
    return UserError(f"{path}: the payload decompresses to more than "
                     f"{MAX_DECOMPRESSED >> 20} MiB; refused")


def _stream(decompressor, data, path, method=None):
    """Run a zlib/bz2/lzma-style decompressor over ``data`` with the limit."""
    try:
        if method == "zlib":
            out = decompressor.decompress(data, MAX_DECOMPRESSED + 1)
            done = decompressor.eof
        else:
            out = decompressor.decompress(data, max_length=MAX_DECOMPRESSED + 1)
            done = decompressor.eof
    except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as e:
        raise _Damaged(reason(e)) from None
    if len(out) > MAX_DECOMPRESSED:
        raise _limited(path)
    if not done:
        raise _Damaged("the stream ends early (truncated)")
    return out


def _zstd(data, path):
    """One zstd frame (Kbuild appends the size after it), fed 4 KiB at a
    time so that the limit holds however well the input compresses (a
    block of 3 header bytes gives at most 128 KiB)."""
    import zstandard
    out = bytearray()
    try:
        if zstandard.frame_content_size(data) > MAX_DECOMPRESSED:
            raise _limited(path)
        obj = zstandard.ZstdDecompressor().decompressobj()
        for at in range(0, len(data), 4096):
            out += obj.decompress(data[at:at + 4096])
            if len(out) > MAX_DECOMPRESSED:
                raise _limited(path)
            if obj.eof:
                break
    except zstandard.ZstdError as e:
        raise _Damaged(reason(e)) from None
    if not obj.eof:
        raise _Damaged("the stream ends early (truncated)")
    return bytes(out)


LZ4_LEGACY_BLOCK = 8 << 20


def _lz4_legacy(data, path):
    """The lz4 legacy frame: the magic, then blocks of (u32 LE compressed
    size, lz4 block) each decompressing to at most 8 MiB, ended by the end
    of the data, another magic, or a size no block can have (Kbuild appends
    the decompressed size as 4 bytes)."""
    import lz4.block
    out = bytearray()
    pos = 4
    bound = LZ4_LEGACY_BLOCK + LZ4_LEGACY_BLOCK // 255 + 16
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        if size == 0x184C2102 or size > bound or size == 0:
            break
        if pos + 4 + size > len(data):
            raise _Damaged("the stream ends early (truncated)")
        try:
            out += lz4.block.decompress(data[pos + 4:pos + 4 + size],
                                        uncompressed_size=LZ4_LEGACY_BLOCK)
        except lz4.block.LZ4BlockError as e:
            raise _Damaged(reason(e)) from None
        if len(out) > MAX_DECOMPRESSED:
            raise _limited(path)
        pos += 4 + size
    if not out:
        raise _Damaged("no block decompresses")
    return bytes(out)


def decompress(kind, data, path):
    """The bytes the ``kind`` stream at the start of ``data`` decompresses
    to (trailing bytes ignored); _Damaged if it does not."""
    if kind == "gzip":
        return _stream(zlib.decompressobj(wbits=31), data, path, "zlib")
    if kind == "bzip2":
        return _stream(bz2.BZ2Decompressor(), data, path)
    if kind in ("xz", "lzma"):
        return _stream(lzma.LZMADecompressor(
            lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE), data, path)
    if kind == "zstd":
        return _zstd(data, path)
    if kind == "lz4":
        return _lz4_legacy(data, path)
    if kind == "lzo":
        try:
            return lzop.decompress(data, MAX_DECOMPRESSED)
        except lzop.TooLarge:
            raise _limited(path) from None
        except lzop.Damaged as e:
            raise _Damaged(str(e)) from None
        except lzop.Unavailable as e:
            raise UserError(f"{path}: its payload is lzo-compressed: {e}") from None
    raise _Damaged(f"unknown compression {kind}")


def _compression_of(data):
    for name, magic in COMPRESSIONS:
        if data.startswith(magic):
            return name
    return None


# -- Finding the blob ---------------------------------------------------------

def _extent(elf, room):
    """The length of the object ``elf`` from its own headers (the end of
    its section header table and of its furthest section), or None if it
    has no sections or runs past the ``room`` there is."""
    header = elf.header
    if elf.num_sections() == 0:
        return None
    end = header["e_shoff"] + elf.num_sections() * header["e_shentsize"]
    for section in elf.iter_sections():
        if section["sh_type"] != "SHT_NOBITS":   # takes no room in the file
            end = max(end, section["sh_offset"] + section["sh_size"])
    return end if end <= room else None


def _parses(blob):
    """Whether pyelftools reads every section and symbol of ``blob``."""
    try:
        elf = parse_elf(blob, "blob")
        for section in elf.iter_sections():
            section.data()
            if section["sh_type"] == "SHT_SYMTAB":
                list(section.iter_symbols())
        return True
    except (UserError, *DAMAGED_ELF_ERRORS):
        return False


def relocatables(data, machine):
    """[(offset, bytes)] of every ELF ET_REL object of ``machine`` (an
    e_machine as pyelftools names it, or None for any) that ``data`` holds
    whole."""
    found = []
    at = data.find(ELF_MAGIC)
    while at >= 0:
        try:
            elf = embedded_elf(data, at)
            size = (_extent(elf, len(data) - at) if elf is not None
                    and elf.header["e_type"] == "ET_REL"
                    and machine in (None, elf.header["e_machine"]) else None)
        except DAMAGED_ELF_ERRORS:
            size = None
        if size and _parses(data[at:at + size]):
            found.append((at, data[at:at + size]))
        at = data.find(ELF_MAGIC, at + 1)
    return found


class _Finder:
    """The search through one image, with what it saw for the messages."""

    def __init__(self, path):
        self.path = path

    def fail(self, text):
        raise UserError(f"{self.path}: {text}")

    # The blob in bytes of a known kind.
    def in_bytes(self, data, where, machine):
        elf = embedded_elf(data, 0)
        if elf is not None and elf.header["e_type"] in ("ET_EXEC", "ET_DYN"):
            return self.in_vmlinux(data, where)
        found = relocatables(data, machine)
        if not found:
            return None
        if len(found) > 1:
            named = [f for f in found if b"purgatory_start" in f[1]]
            if len(named) == 1:
                found = named
            else:
                label = abi.ARCHITECTURES[machine].NAME + " " if machine else ""
                self.fail(f"{len(found)} relocatable {label}objects in {where} (at "
                          f"{', '.join(hex(o) for o, _ in found)}); cannot tell "
                          "which is the purgatory")
        offset, blob = found[0]
        return blob, f"{where}, ELF relocatable object at {offset:#x}"

    def in_vmlinux(self, data, where):
        try:
            elf = parse_elf(data, self.path)
            machine = elf.header["e_machine"]
            symbols = {}
            for section in elf.iter_sections():
                if section["sh_type"] == "SHT_SYMTAB":
                    for sym in section.iter_symbols():
                        if sym.name in ("kexec_purgatory", "kexec_purgatory_size"):
                            symbols.setdefault(sym.name, sym)
            if len(symbols) == 2:
                return self._by_symbols(elf, data, symbols, where)
            sections = [s for s in elf.iter_sections()
                        if s["sh_type"] not in ("SHT_NOBITS", "SHT_NULL")
                        and s["sh_flags"] & 2]      # SHF_ALLOC
        except DAMAGED_ELF_ERRORS as e:
            self.fail(f"damaged ELF executable in {where} ({reason(e)})")
        for section in sections:        # one section's bytes at a time
            with damaged_elf_is_user_error(self.path):
                contents = section.data()
            found = self.in_bytes(contents, f"{where}, section {section.name}",
                                  machine)
            if found:
                return found
        return None

    def _by_symbols(self, elf, data, symbols, where):
        def file_bytes(sym, size):
            section = elf.get_section(sym["st_shndx"]) \
                if isinstance(sym["st_shndx"], int) else None
            if section is None or section["sh_type"] == "SHT_NOBITS":
                self.fail(f"{sym.name} is not in a section with contents")
            start = sym["st_value"] - section["sh_addr"]
            if start < 0 or start + size > section["sh_size"]:
                self.fail(f"{sym.name} lies outside its section {section.name}")
            return section.data()[start:start + size], section.name, start
        width = 8 if elf.elfclass == 64 else 4
        raw, _, _ = file_bytes(symbols["kexec_purgatory_size"], width)
        size = int.from_bytes(raw, "little" if elf.little_endian else "big")
        blob, section, start = file_bytes(symbols["kexec_purgatory"], size)
        return blob, (f"{where}, symbols kexec_purgatory and "
                      f"kexec_purgatory_size ({section}+{start:#x}, {size} bytes)")


def _bzimage_payload(finder, data):
    path = finder.path
    if len(data) < 0x250:
        finder.fail("truncated bzImage (setup header incomplete)")
    version, = struct.unpack_from("<H", data, 0x206)
    if version < 0x208:
        finder.fail(f"bzImage boot protocol {version >> 8}.{version & 0xff:02d}"
                    " has no payload fields (2.08 and later have)")
    setup_sects = data[0x1f1] or 4
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + offset
    if length == 0 or start + length > len(data):
        finder.fail(f"truncated bzImage: its payload ({length} bytes at "
                    f"{start:#x}) ends past the end of the file "
                    f"({len(data)} bytes)")
    payload = data[start:start + length]
    kind = _compression_of(payload)
    if kind is None:
        finder.fail(f"bzImage payload at {start:#x} is not compressed in a "
                    "form this tool knows (gzip, bzip2, lzma, xz, lzo, lz4, zstd)")
    try:
        return decompress(kind, payload, path), f"the {kind} payload at {start:#x}"
    except _Damaged as e:
        finder.fail(f"damaged {kind} payload at {start:#x}: {e}")


def _first_stream(finder, data):
    """(decompressed bytes, where) of the first compressed stream in
    ``data`` that decompresses whole, or None; the error of the first one
    that looked like a stream if none does."""
    first_error = None
    candidates = []
    for kind, magic in COMPRESSIONS:
        at = data.find(magic)
        tries = 0
        while at >= 0 and tries < 64:
            candidates.append((at, kind))
            at = data.find(magic, at + 1)
            tries += 1
    for at, kind in sorted(candidates):
        try:
            out = decompress(kind, data[at:], finder.path)
        except _Damaged as e:
            if first_error is None and kind in ("xz", "zstd", "lz4", "gzip"):
                first_error = f"damaged {kind} payload at {at:#x}: {e}"
            continue
        if len(out) >= 4096:
            return out, f"the {kind} payload at {at:#x}"
    if first_error:
        finder.fail(first_error)
    return None


def bzimage_vmlinux(path, data):
    """The vmlinux an x86 bzImage's payload decompresses to (boot-test reads
    the kernel's IKCONFIG from it); UserError if ``data`` is none."""
    if not _is_bzimage(data):
        raise UserError(f"{path}: not an x86 bzImage (no HdrS at 0x202)")
    return _bzimage_payload(_Finder(path), data)[0]


def _find(path, data):
    """((blob bytes, where it was found), the bytes searched: the
    decompressed payload, or the file itself)."""
    finder = _Finder(path)
    machine = None
    payload = data
    if _is_kernel_elf(data):
        where = "its sections"
        found = finder.in_vmlinux(data, "the ELF executable")
        kind = "vmlinux"
    elif _is_bzimage(data):
        payload, where = _bzimage_payload(finder, data)
        found = finder.in_bytes(payload, where, abi.x86_64.E_MACHINE)
        kind = "x86 bzImage"
    else:
        if _is_arm64(data):
            finder.fail("an arm64 Image: arm64's kexec_file loads no purgatory")
        if _is_s390(data):
            machine, kind = abi.s390x.E_MACHINE, "s390 image"
        elif _is_riscv(data):
            machine, kind = abi.riscv64.E_MACHINE, "riscv Image"
        else:
            kind = "compressed kernel"
        where = "the file itself"
        found = finder.in_bytes(data, where, machine) \
            if kind == "riscv Image" else None
        if found is None:
            start = _compression_at_start(data)
            if start:
                try:
                    payload, where = decompress(start, data, path), f"the whole file ({start})"
                except _Damaged as e:
                    finder.fail(f"damaged {start} stream: {e}")
            else:
                stream = _first_stream(finder, data)
                if stream is None:
                    finder.fail(f"{kind}: no compressed payload found in it, "
                                "nor a purgatory stored uncompressed")
                payload, where = stream
            found = finder.in_bytes(payload, where, machine)
    if found is None:
        finder.fail(f"{kind} without a purgatory: no kexec_purgatory symbol "
                    f"and no ELF relocatable object in {where}"
                    " (a kernel built without KEXEC_FILE carries none)")
    return found, payload


def find(path, data):
    """(blob bytes, where it was found) in the image ``data``."""
    return _find(path, data)[0]


# init/version-timestamp.c's linux_banner: "Linux version RELEASE
# (BY@HOST) (COMPILER, LINKER) #VERSION\n", whole (a bare "Linux version
# %s" in an s390 image's decompressor, or a shorter string with the same
# start, does not count).
_BANNER = re.compile(rb"Linux version (\d\S* \([^)\0\n]*\) "
                     rb"\([\x20-\x7e]*\) #[\x20-\x7e]*)")


def _bzimage_version(data):
    """The bzImage header's kernel_version string (boot.rst: a pointer at
    0x20e, relative to 0x200), or None."""
    if not _is_bzimage(data) or len(data) < 0x210:
        return None
    pointer = int.from_bytes(data[0x20e:0x210], "little")
    text = data[pointer + 0x200:pointer + 0x400].split(b"\0")[0] if pointer else b""
    return text.decode("ascii", "replace") or None


def examine(path, data):
    """(blob bytes, where it was found, the kernel's version string or
    None): the banner after "Linux version " in the file or the
    decompressed payload the blob came from, else a bzImage header's
    kernel_version (which names no compiler)."""
    found, payload = _find(path, data)
    for searched in (data, payload):
        match = _BANNER.search(searched)
        if match:
            return (*found, match.group(1).decode("ascii"))
    return (*found, _bzimage_version(data))


def read(path, data):
    blob, where = find(path, data)
    return Blob("elf", blob, f"{DESCRIPTION} ({where})",
                name=purgatory_name(path), origin=where)

