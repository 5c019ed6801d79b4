# SPDX-License-Identifier: GPL-2.0-only
"""The segments a kexec_file load hands to the purgatory, for emulation.

The kernel fills ``purgatory_sha_regions`` with one {start, len} entry per
segment it loaded (the purgatory's own excepted) and stores the SHA-256 of
all of them, in order, in ``purgatory_sha256_digest``. Here a SPEC string
says which segments exist and how big they are; their contents are
deterministic, so every run of the same SPEC hashes the same bytes.

SPEC: comma-separated ``NAME=SIZE[@ADDR]`` items, at most 16, in table
order. SIZE and ADDR take 0x hex and K/M/G/T suffixes; SIZE may be 0 (a
zero-length entry). Segments without @ADDR are placed page-aligned from
16 MiB up, around everything else. ``kernel`` is where the new kernel's entry
(``rip`` = kernel + 0x200) lies and ``boot_params`` what ``rsi`` points to;
both are optional. An empty SPEC (or ``none``) leaves the table all zero.

The segments together may take at most ``DEFAULT_LIMIT`` bytes unless the
caller raises the limit (``run --segments-limit``): a SPEC asking for more
is refused before anything is allocated. A segment's bytes are made a
chunk at a time, for the digest and again straight into the emulated
memory, so the only whole copy of a segment is the emulator's.
"""

import hashlib
import re
import struct
from dataclasses import dataclass, field

from .. import abi
from ..errors import UserError
from ..sizes import parse_size
from .address_space import page_runs

MAX_REGIONS = abi.x86_64.MAX_REGIONS
DEFAULT_SPEC = "kernel=64K,boot_params=4K,cmdline=256,initrd=32K"
AUTO_PLACEMENT_BASE = 16 << 20
KERNEL = "kernel"
BOOT_PARAMS = "boot_params"
KERNEL_ENTRY_OFFSET = abi.x86_64.KERNEL_ENTRY_OFFSET

DEFAULT_LIMIT = 1 << 30
CHUNK_SIZE = 1 << 20

_ITEM = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*)=([^@]+)(?:@(.+))?")


@dataclass
class Segment:
    name: str
    size: int
    address: int = None     # None until placed
    # (offset, bytes) written over the contents before the digest is taken
    # (s390x's restart PSW), and (offset, mask) flipped after it (--corrupt)
    patches: list = field(default_factory=list)
    flip: tuple = None

    @property
    def end(self):
        return self.address + self.size

    def chunks(self):
        """(offset, bytes) of the whole contents, CHUNK_SIZE at a time."""
        for start in range(0, self.size, CHUNK_SIZE):
            chunk = bytearray(contents(self.name, min(CHUNK_SIZE, self.size - start),
                                       start // CHUNK_SIZE))
            for offset, data in self.patches + ([(self.flip[0], None)] if self.flip else []):
                if start <= offset < start + len(chunk):
                    at = offset - start
                    if data is None:
                        chunk[at] ^= self.flip[1]
                    else:
                        chunk[at:at + len(data)] = data[:len(chunk) - at]
            yield start, bytes(chunk)

    def whole(self):
        """The whole contents (patches and flip applied), for a machine that
        takes a segment in one piece (s390x's crash memory, ppc64le's
        QEMU): the one copy of it a run holds."""
        return b"".join(chunk for _, chunk in self.chunks())

    def head(self, size):
        """The first ``size`` bytes (patches and flip applied)."""
        return next(self.chunks(), (0, b""))[1][:size]


def write(write_memory, address, data):
    """Put ``data`` (bytes, or a Segment, a chunk at a time) at ``address``
    through ``write_memory(address, bytes)``, the emulator's."""
    if isinstance(data, Segment):
        for offset, chunk in data.chunks():
            write_memory(address + offset, chunk)
    elif data:
        write_memory(address, bytes(data))


def length(data):
    return data.size if isinstance(data, Segment) else len(data)


def map_and_write(uc, blobs, page_size, also=()):
    """Map into the Unicorn ``uc`` the pages of every (address, bytes or
    Segment) of ``blobs`` and of the (start, size) ranges ``also``, merged
    into runs (one mapping each, however large the segments), then write
    the blobs there: how every Unicorn machine here starts."""
    ranges = [*also, *((address, length(data)) for address, data in blobs)]
    for start, size in page_runs(ranges, page_size):
        uc.mem_map(start, size)         # read, write and execute
    for address, data in blobs:
        write(uc.mem_write, address, data)


def parse_spec(text, limit=DEFAULT_LIMIT):
    """Segments (unplaced unless @ADDR is given) from a SPEC string, at
    most ``limit`` bytes of them in all."""
    text = text.strip()
    if text in ("", "none"):
        return []
    segments, names = [], set()
    for item in text.split(","):
        match = _ITEM.fullmatch(item.strip())
        if not match:
            raise UserError(f"segment {item.strip()!r}: expected NAME=SIZE[@ADDR]")
        name, size, address = match.groups()
        if name in names:
            raise UserError(f"segment {name}: named twice")
        names.add(name)
        segment = Segment(name, parse_size(size, f"segment {name} size"))
        if address is not None:
            segment.address = parse_size(address, f"segment {name} address")
        segments.append(segment)
    total = sum(s.size for s in segments)
    if total > limit:
        raise UserError(f"segments: {_amount(total)} in all, over the limit of "
                        f"{_amount(limit)} (--segments-limit raises it; the "
                        f"emulator holds every segment in memory)")
    if len(segments) > MAX_REGIONS:
        raise UserError(f"segments: {len(segments)} given, the region table "
                        f"holds {MAX_REGIONS}")
    kernel = find(segments, KERNEL)
    if kernel and kernel.size <= KERNEL_ENTRY_OFFSET:
        raise UserError(f"segment {KERNEL}: {kernel.size} bytes do not reach "
                        f"its entry at +{KERNEL_ENTRY_OFFSET:#x}")
    return segments


def _amount(size):
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if size >= 1 << shift and not size % (1 << shift):
            return f"{size >> shift} {unit}"
    return f"{size} bytes"


def find(segments, name):
    return next((s for s in segments if s.name == name), None)


def contents(name, size, chunk=0):
    """Deterministic bytes standing for a segment's data: its ``chunk``-th
    CHUNK_SIZE bytes (``size`` of them)."""
    seed = f"kexec-purgatory segment {name}" + (f" {chunk}" if chunk else "")
    return hashlib.shake_128(seed.encode()).digest(size)


def place(segments, space):
    """Give every segment an address in ``space``."""
    for segment in segments:
        if segment.address is not None:
            space.reserve(segment.address, segment.size, f"segment {segment.name}")
    for segment in segments:
        if segment.address is None:
            segment.address = space.allocate(segment.size, f"segment {segment.name}",
                                             AUTO_PLACEMENT_BASE)


def region_table(segments, module=abi.x86_64):
    """``purgatory_sha_regions``: {start, len} per segment, zero after, in
    the byte order of the ABI ``module``."""
    table = b"".join(struct.pack(module.REGION_FORMAT, s.address, s.size)
                     for s in segments)
    return table.ljust(module.REGIONS_SIZE, b"\0")


def digest(segments):
    """``purgatory_sha256_digest``: SHA-256 over all segments in order."""
    sha = hashlib.sha256()
    for segment in segments:
        for _, chunk in segment.chunks():
            sha.update(chunk)
    return sha.digest()


def parse_corruption(text):
    """REGION:OFFSET from ``--corrupt``."""
    name, sep, offset = text.rpartition(":")
    if not sep or not name:
        raise UserError(f"--corrupt {text!r}: expected REGION:OFFSET")
    return name, parse_size(offset, f"--corrupt {name} offset")


def corrupt(segments, name, offset, mask=0xff):
    """Flip bits of one byte of a segment, after the digest was taken."""
    segment = find(segments, name)
    if segment is None:
        raise UserError(f"--corrupt: no segment named {name}")
    if not 0 <= offset < segment.size:
        raise UserError(f"--corrupt: offset {offset:#x} is outside segment "
                        f"{name} ({segment.size} bytes)")
    segment.flip = (offset, mask)
