# SPDX-License-Identifier: GPL-2.0-only
"""purgatory.hex: the purgatory as it lies in memory at LOAD_ADDR, in Intel HEX.

Not the bytes of purgatory.ro but the image the kernel's kexec_file loader
would make of them at that address: sections laid out, relocations applied
(the loader of issue 4, ``loader.load``). For inspection, diffing two
builds' loaded images, and flashing-style tools. The start-address record
holds the entry point. Intel HEX addresses stop at 4 GiB.
"""

import io

from .errors import UserError
from .files import read_bytes, write_atomically
from .sizes import parse_size

INTEL_HEX_LIMIT = 1 << 32
PAGE_SIZE = 0x1000
DEFAULT_LOAD_ADDR = "0x1000000"


def parse_load_addr(value, variable="LOAD_ADDR"):
    """A page-aligned address below 4 GiB (decimal, 0x hex, K/M/G suffixes)."""
    address = parse_size(str(value), variable)
    if address % PAGE_SIZE or not 0 < address < INTEL_HEX_LIMIT:
        raise UserError(f"{variable}: {value} must be page aligned (0x1000) "
                        "and below 4 GiB (Intel HEX addresses 32 bits)")
    return address


def relocated_ihex(data, name, address):
    """Intel HEX text (bytes) of ``data`` loaded and relocated at ``address``."""
    from .loader import load        # the kernel-faithful loader
    return intel_hex_text(load(data, name, address), name, "lower LOAD_ADDR")


def write_relocated_ihex(output, relocatable, load_addr, variable="LOAD_ADDR"):
    """Write ``output`` (purgatory.hex) for the file ``relocatable`` loaded
    at ``load_addr`` (text, as ``variable`` gave it)."""
    address = parse_load_addr(load_addr, variable)
    write_atomically(output, relocated_ihex(read_bytes(relocatable),
                                            relocatable, address))


def intel_hex_text(loaded, name, remedy):
    """Intel HEX text (bytes) of a ``loader.LoadedPurgatory``, entry as start
    address; ``remedy`` says what to do when the image ends above 4 GiB."""
    if loaded.end > INTEL_HEX_LIMIT:
        raise UserError(f"{name}: Intel HEX cannot hold addresses above 4 GiB "
                        f"(image ends at {loaded.end:#x}); {remedy}")
    image = loaded.intelhex()
    image.start_addr = {"EIP": loaded.entry}
    text = io.StringIO()
    image.write_hex_file(text, write_start_addr=True)
    return text.getvalue().encode("ascii")
