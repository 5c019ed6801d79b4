# SPDX-License-Identifier: GPL-2.0-only
"""lzop's file format, the way Kbuild wraps an lzo-compressed kernel (not a
form of its own: kernel_image reads payloads with it).

Kbuild compresses the kernel with ``lzop -9`` (scripts/Makefile.lib,
``cmd_lzo_with_size``), and the kernel reads it back in
lib/decompress_unlzo.c (``parse_header`` and ``unlzo``).  The lzo1x blocks
themselves are decompressed by ``python-lzo`` (Debian's ``python3-lzo``),
an optional dependency; this module reads the framing around them, which
no well-kept package reads:

- the header: the 9-byte magic; version, library version and (from
  version 0x0940 on, which every lzop since 1.00 writes) the version needed
  to extract, all 16-bit big-endian; the method and level bytes; 32-bit
  flags, a filter word when ``F_H_FILTER`` is set, mode and mtime (low and
  high); a name of a length byte; a checksum of the header from its version
  on (adler32, or crc32 with ``F_H_CRC32``);
- blocks, each: the decompressed size (0 ends the stream), the compressed
  size, the decompressed data's checksums the flags ask for, the
  compressed data's when the block is compressed, then the data (stored as
  is when both sizes are equal).  A block decompresses to at most 256 KiB,
  the largest the kernel reads (``LZO_BLOCK_SIZE``).

Checksums are checked (zlib's adler32 and crc32 are lzop's), as the
kernel does not: a damaged payload is told from a good one here.
"""

import struct
import zlib

MAGIC = b"\x89LZO\x00\r\n\x1a\n"
BLOCK_SIZE = 256 << 10              # LZO_BLOCK_SIZE, lib/decompress_unlzo.c

F_ADLER32_D, F_ADLER32_C = 0x1, 0x2
F_H_EXTRA_FIELD = 0x40
F_CRC32_D, F_CRC32_C = 0x100, 0x200
F_MULTIPART, F_H_FILTER, F_H_CRC32 = 0x400, 0x800, 0x1000
LZO1X_METHODS = (1, 2, 3)           # M_LZO1X_1, M_LZO1X_1_15, M_LZO1X_999


class Damaged(Exception):
    """The stream is not a whole lzop stream; the message says where."""


class TooLarge(Exception):
    """The stream decompresses to more than the caller's limit."""


class Unavailable(Exception):
    """python-lzo is not installed; the message says how to get it."""


def _lzo():
    try:
        import lzo
    except ImportError:
        raise Unavailable("reading it needs python-lzo (pip install "
                          "python-lzo, or Debian's python3-lzo)") from None
    return lzo


class _Reader:
    """The stream's bytes and a position in them."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, size, what):
        if self.pos + size > len(self.data):
            raise Damaged(f"the stream ends early (truncated) in {what}")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def u8(self, what):
        return self.take(1, what)[0]

    def u16(self, what):
        return struct.unpack(">H", self.take(2, what))[0]

    def u32(self, what):
        return struct.unpack(">I", self.take(4, what))[0]


def _checksum(kind, data):
    return zlib.adler32(data) if kind == "adler32" else zlib.crc32(data)


def _header(reader):
    """The flags, after checking the header and its checksum."""
    if reader.take(len(MAGIC), "the magic") != MAGIC:
        raise Damaged("not an lzop stream (no magic)")
    start = reader.pos
    version = reader.u16("the header")
    reader.u16("the header")                        # library version
    if version < 0x0940:
        raise Damaged(f"lzop format version {version:#06x} (before 0x0940, "
                      "lzop 1.00) is not read")
    reader.u16("the header")                        # version needed
    method = reader.u8("the header")
    reader.u8("the header")                         # level
    flags = reader.u32("the header")
    if method not in LZO1X_METHODS:
        raise Damaged(f"compression method {method} is not lzo1x")
    if flags & (F_MULTIPART | F_H_EXTRA_FIELD):
        raise Damaged(f"header flags {flags:#x} ask for a multipart stream "
                      "or an extra field, which Kbuild never writes")
    if flags & F_H_FILTER:
        reader.u32("the header")                    # filter
    reader.take(12, "the header")                   # mode, mtime low, high
    reader.take(reader.u8("the header"), "the header's name")
    kind = "crc32" if flags & F_H_CRC32 else "adler32"
    expected = _checksum(kind, reader.data[start:reader.pos])
    if reader.u32("the header's checksum") != expected:
        raise Damaged(f"the header's {kind} does not match")
    return flags


def _kinds(flags, adler, crc):
    return [k for k, bit in (("adler32", adler), ("crc32", crc)) if flags & bit]


def decompress(data, limit):
    """The bytes the lzop stream at the start of ``data`` decompresses to
    (trailing bytes, such as Kbuild's size, ignored): Damaged, TooLarge
    past ``limit`` bytes, or Unavailable without python-lzo."""
    lzo = _lzo()
    reader = _Reader(data)
    flags = _header(reader)
    out = bytearray()
    while True:
        block = f"the block at {reader.pos:#x}"
        size = reader.u32(block)
        if size == 0:
            return bytes(out)
        packed = reader.u32(block)
        if size > BLOCK_SIZE or packed == 0 or packed > size:
            raise Damaged(f"{block}: sizes {packed} -> {size} (a block holds "
                          f"at most {BLOCK_SIZE} bytes and never grows)")
        sums = [(k, reader.u32(block), "decompressed")
                for k in _kinds(flags, F_ADLER32_D, F_CRC32_D)]
        if packed < size:
            sums += [(k, reader.u32(block), "compressed")
                     for k in _kinds(flags, F_ADLER32_C, F_CRC32_C)]
        raw = reader.take(packed, block)
        if packed == size:
            plain = raw
        else:
            try:
                plain = lzo.decompress(raw, False, size)
            except lzo.error as e:
                raise Damaged(f"{block}: {e}") from None
            if len(plain) != size:
                raise Damaged(f"{block}: decompresses to {len(plain)} bytes, "
                              f"not {size}")
        for kind, value, of in sums:
            if _checksum(kind, raw if of == "compressed" else plain) != value:
                raise Damaged(f"{block}: the {of} data's {kind} does not match")
        out += plain
        if len(out) > limit:
            raise TooLarge()
