# SPDX-License-Identifier: GPL-2.0-only
"""``kexec-purgatory run``: run a purgatory in emulation up to the kernel."""

import json
import sys

from ..emulate import emulator, segments
from ..errors import UserError
from ..formats import read_object
from ..sizes import parse_size
from .load import add_entry_argument

HELP = ("run a purgatory in an emulated CPU of its machine (x86_64, s390x, "
        "riscv64) up to the new kernel's entry")

SPEC_HELP = f"""\
the segments the kernel would hash, as comma-separated NAME=SIZE[@ADDR] items
in region-table order (at most 16). SIZE may be 0; without @ADDR a segment is
placed page-aligned from 16 MiB up. The segment named "kernel" holds the
entry (rip = kernel + 0x200), the one named "boot_params" is what rsi points
to. "none" or "" leaves the table all zero. Contents are deterministic.
Default: {segments.DEFAULT_SPEC}"""

EPILOG = f"""\
Passes (exit 0) when execution reaches rip with all 16 general registers as
set, no fault and no write outside the purgatory's image; with --corrupt, when
the purgatory refuses instead: it spins (stays within
{emulator.SPIN_WINDOW} bytes of code for {emulator.SPIN_INSTRUCTIONS}
instructions, then repeats a block with the same registers) or halts.
Exit 1 when it fails, 2 on bad input. docs/emulation.md has the details."""


def add_arguments(parser):
    parser.epilog = EPILOG
    parser.add_argument("file", metavar="FILE",
                        help="the purgatory (purgatory.ro), or a kernel image "
                             "holding one")
    parser.add_argument("--addr", metavar="A",
                        help="load address, page aligned, at or above the "
                             "architecture's lowest (x86_64: 0x3000 to 64 "
                             "TiB; s390x: below 2 GiB) (0x hex, K/M/G/T "
                             "suffixes, sums like 4G+0x1000; default: the "
                             "middle of test-run's addresses, 4 GiB + 4 KiB "
                             "on x86_64)")
    parser.add_argument("--segments", default=segments.DEFAULT_SPEC,
                        metavar="SPEC", help=SPEC_HELP)
    parser.add_argument("--segments-limit", metavar="SIZE",
                        default=str(segments.DEFAULT_LIMIT >> 30) + "G",
                        help="refuse segments taking more than SIZE bytes in "
                             "all, before anything is allocated: the emulator "
                             "holds them in memory (K/M/G/T suffixes; "
                             "default: %(default)s)")
    parser.add_argument("--corrupt", metavar="REGION:OFFSET",
                        help="flip every bit of one byte of segment REGION "
                             "after the digest was taken: the run must refuse")
    parser.add_argument("--max-instructions", metavar="N",
                        help="give up after N instructions, at least 1 "
                             "(0x hex, K/M/G suffixes; default: "
                             f"{emulator.BASE_INSTRUCTION_LIMIT} + "
                             f"{emulator.INSTRUCTIONS_PER_BYTE_LIMIT} per byte hashed)")
    parser.add_argument("--json", action="store_true",
                        help="print the whole result as one JSON object")
    add_entry_argument(parser)


def print_summary(result):
    print(f"{result.file}: loaded at {result.address:#x}, entry "
          f"{result.entry:#x} ({result.entry_source})")
    print(f"regions: {len(result.regions)}, {result.bytes_hashed} bytes hashed")
    per_byte = result.instructions_per_byte
    per_byte = f" ({per_byte:.2f} per byte hashed)" if per_byte is not None else ""
    print(f"instructions: {result.instructions}{per_byte}")
    print(f"{'PASS' if result.passed else 'FAIL'}: {result.message}")


def _instruction_limit(value):
    if value is None:
        return None
    limit = parse_size(value, "--max-instructions")
    if limit < 1:
        raise UserError(f"--max-instructions: {value!r}: at least 1 instruction")
    return limit


def run(args):
    corruption = segments.parse_corruption(args.corrupt) if args.corrupt else None
    limit = _instruction_limit(args.max_instructions)
    result = emulator.run(*read_object(args.file),
                          parse_size(args.addr, "--addr") if args.addr else None,
                          args.segments,
                          corruption, args.entry_from, limit,
                          parse_size(args.segments_limit, "--segments-limit"))
    if args.json:
        json.dump(result.as_dict(), sys.stdout)
        print()
    else:
        print_summary(result)
    return 0 if result.passed else 1
