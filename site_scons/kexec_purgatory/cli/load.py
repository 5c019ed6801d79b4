# SPDX-License-Identifier: GPL-2.0-only
"""``kexec-purgatory load``: relocate a purgatory as the kernel would."""

from .. import abi
from ..elf import loader
from ..formats import ihex, read_object
from ..files import refuse_overwriting_input, write_atomically
from ..sizes import parse_size
from .contract import print_json

HELP = "lay out and relocate purgatory.ro at an address, as kexec_file does"
EXIT_STATUS = ("written", None, "FILE unreadable or refused by the "
               "kernel's loader (its message), a bad --addr, or F.hex not "
               "writable or FILE itself (nothing is written)")


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE",
                        help="the purgatory (purgatory.ro), or a kernel image "
                             "holding one")
    parser.add_argument("--addr", required=True, metavar="A",
                        help="load address: page aligned, at least 0x3000 "
                             "(0x hex, K/M/G/T suffixes, e.g. 4G+0x1000)")
    parser.add_argument("-o", "--output", required=True, metavar="F.hex",
                        help="write the relocated image here: Intel HEX, or "
                             "raw bytes if the name ends in .bin")
    add_entry_argument(parser)


def add_entry_argument(parser):
    parser.add_argument("--entry-from", choices=abi.x86_64.ENTRY_RULES,
                        default=abi.x86_64.ENTRY_FROM_SYMBOL,
                        help="find the entry as kernel/kexec_file.c's "
                             "kexec_purgatory_setup_sechdrs() does in Linux "
                             "6.1.192, 6.12.117 and 7.2 (the global "
                             "purgatory_start, else e_entry; the default) or "
                             "as kernels without that lookup (e_entry only)")


def image_bytes(loaded, path):
    """The image as Intel HEX text, or raw bytes for a .bin name."""
    if path.endswith(".bin"):
        return bytes(loaded.image)
    return ihex.intel_hex_text(loaded, path, "name it .bin for raw bytes")


def run(args):
    refuse_overwriting_input(args.output, args.file)
    data, name = read_object(args.file)
    loaded = loader.load(data, name, parse_size(args.addr, "--addr"), args.entry_from)
    write_atomically(args.output, image_bytes(loaded, args.output))
    bss = loaded.layout.memsz - loaded.layout.bufsz
    if args.json:
        return print_json({"file": name, "output": args.output,
                           "address": loaded.address, "entry": loaded.entry,
                           "entry_source": loaded.entry_source,
                           "bytes": loaded.layout.memsz, "zero_filled": bss}, 0)
    print(f"{name}: {loaded.layout.memsz} bytes ({bss} zero-filled) at "
          f"{loaded.address:#x}, entry {loaded.entry:#x} ({loaded.entry_source})")
    return 0
