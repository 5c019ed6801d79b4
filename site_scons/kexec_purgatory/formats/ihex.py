# SPDX-License-Identifier: GPL-2.0-only
"""purgatory.hex: the purgatory as it lies in memory at LOAD_ADDR, in Intel
HEX, written and read back.

Not the bytes of purgatory.ro but the image the kernel's kexec_file loader
would make of them at that address: sections laid out, relocations applied
(``elf.loader.load``). For inspection, diffing two builds' loaded images,
and flashing-style tools. The start-address record holds the entry point.
Intel HEX addresses stop at 4 GiB. intelhex is imported only when a file
of this form is written or read.
"""

from ..errors import UserError, reason
from ..files import read_bytes, write_atomically
from ..sizes import parse_size
from .blob import Blob

NAME = "ihex"
DEFAULT_OUTPUT = "purgatory.hex"
DESCRIPTION = "Intel HEX image"

INTEL_HEX_LIMIT = 1 << 32
RECORD_BYTES = 16
DEFAULT_LOAD_ADDR = "0x1000000"


def parse_load_addr(value, variable="LOAD_ADDR"):
    """A page-aligned address below 4 GiB (decimal, 0x hex, K/M/G suffixes)."""
    address = parse_size(str(value), variable)
    from ..abi import x86_64     # imported here: every build loads this module
    page = x86_64.PAGE_SIZE
    if address % page or not 0 < address < INTEL_HEX_LIMIT:
        raise UserError(f"{variable}: {value} must be page aligned ({page:#x}) "
                        "and below 4 GiB (Intel HEX addresses 32 bits)")
    return address


def relocated_ihex(data, name, address):
    """Intel HEX text (bytes, as lines) of ``data`` loaded and relocated at
    ``address``."""
    from ..elf.loader import load        # the kernel-faithful loader
    return intel_hex_text(load(data, name, address), name, "lower LOAD_ADDR")


def write_relocated_ihex(output, relocatable, load_addr, variable="LOAD_ADDR"):
    """Write ``output`` (purgatory.hex) for the file ``relocatable`` loaded
    at ``load_addr`` (text, as ``variable`` gave it)."""
    address = parse_load_addr(load_addr, variable)
    write_atomically(output, relocated_ihex(read_bytes(relocatable),
                                            relocatable, address))


def intel_hex_text(loaded, name, remedy):
    """Intel HEX text of an ``elf.loader.LoadedPurgatory``, entry as start
    address, as an iterator of lines (bytes): written as it is made, one
    16-byte record at a time, with intelhex's record encoder (its
    ``IntelHex`` object holds a dict entry per byte: gigabytes for a large
    image). The records are those ``IntelHex.write_hex_file`` writes.
    ``remedy`` says what to do when the image ends above 4 GiB."""
    if loaded.end > INTEL_HEX_LIMIT:
        raise UserError(f"{name}: Intel HEX cannot hold addresses above 4 GiB "
                        f"(image ends at {loaded.end:#x}); {remedy}")
    from intelhex import Record
    image, base, end = loaded.image, loaded.address, loaded.end

    def lines():
        yield Record.start_linear_address(loaded.entry)
        address = base
        while address < end:
            if end - 1 > 0xffff:
                yield Record.extended_linear_address(address >> 16)
            block_end = min(end, (address | 0xffff) + 1)
            for at in range(address, block_end, RECORD_BYTES):
                chunk = image[at - base:min(at + RECORD_BYTES, block_end) - base]
                yield Record.data(at & 0xffff, list(chunk))
            address = block_end
        yield Record.eof()
    return (f"{line}\n".encode("ascii") for line in lines())


def detect(path, data):
    return data.lstrip()[:1] == b":"


def read(path, data):
    import intelhex
    hexfile = intelhex.IntelHex()
    try:
        hexfile.loadhex(path)
    except (intelhex.IntelHexError, ValueError) as e:
        raise UserError(f"{path}: bad Intel HEX ({reason(e)})") from None
    if hexfile.minaddr() is None:
        raise UserError(f"{path}: Intel HEX without data")
    base = hexfile.minaddr()
    return Blob("image", bytes(hexfile.tobinarray(start=base)), DESCRIPTION, base)
