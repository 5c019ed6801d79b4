# SPDX-License-Identifier: GPL-2.0-only
"""``kexec-purgatory run``: run a purgatory in emulation up to the kernel."""

from ..emulate import emulator, segments
from ..emulate.machine import CPU_MODELS
from ..errors import UserError
from ..formats import read_object
from ..sizes import parse_size
from .contract import print_json, progress
from .load import add_entry_argument

HELP = ("run a purgatory in an emulated CPU of its machine (x86_64, s390x, "
        "riscv64 in Unicorn; ppc64le in qemu-system-ppc64) up to the new "
        "kernel's entry")

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
docs/emulation.md has the details."""
EXIT_STATUS = ("it passes", "it fails (the message says how)",
               "FILE unreadable, damaged or refused by the kernel's loader, "
               "or a bad option")


def add_arguments(parser):
    parser.epilog = EPILOG
    parser.add_argument("file", metavar="FILE",
                        help="the purgatory (purgatory.ro), or a kernel image "
                             "holding one")
    parser.add_argument("--addr", metavar="A",
                        help="load address, page aligned, at or above the "
                             "architecture's lowest (x86_64: 0x3000 to 64 "
                             "TiB; s390x: below 2 GiB; ppc64le: 0x10000 to "
                             "1 TiB) (0x hex, K/M/G/T "
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
    parser.add_argument("--crash", action="store_true",
                        help="play a crash kernel's load and kdump instead "
                             "(s390x: the checksum-only call, then the "
                             "memory swap and the crash kernel's entry; "
                             "ppc64le: the backup of the first 64 KiB and "
                             "run_at_load)")
    parser.add_argument("--max-instructions", metavar="N",
                        help="give up after N instructions, at least 1 "
                             "(0x hex, K/M/G suffixes; default: "
                             f"{emulator.BASE_INSTRUCTION_LIMIT} + "
                             f"{emulator.INSTRUCTIONS_PER_BYTE_LIMIT} per byte hashed)")
    parser.add_argument("--cpu", choices=sorted(CPU_MODELS),
                        help="x86_64: the emulated CPU model, which decides "
                             "what CPUID reports and what runs: baseline "
                             "(qemu64, the default: no BMI2) or bmi2 "
                             "(Haswell); no model has SHA-NI")
    add_entry_argument(parser)


def print_summary(result):
    print(f"{result.file}: loaded at {result.address:#x}, entry "
          f"{result.entry:#x} ({result.entry_source})")
    print(f"regions: {len(result.regions)}, {result.bytes_hashed} bytes hashed")
    per_byte = result.instructions_per_byte
    per_byte = f" ({per_byte:.2f} per byte hashed)" if per_byte is not None else ""
    print(f"instructions: {result.instructions}{per_byte}")
    if result.sha256_path is not None:
        print(f"SHA-256 path: {result.sha256_path} (CPU model {result.cpu})")
    print(f"{'PASS' if result.passed else 'FAIL'}: {result.message}")


def _instruction_limit(value):
    if value is None:
        return None
    limit = parse_size(value, "--max-instructions")
    if limit < 1:
        raise UserError(f"--max-instructions: {value!r}: at least 1 instruction")
    return limit


# Emulated hashing runs at about a MiB a second: past this many bytes of
# segments a run takes more than two seconds, and says so first.
ANNOUNCED_BYTES = 2 << 20


def _announce(args):
    """A progress line on stderr before a run that hashes large segments."""
    try:
        total = sum(s.size for s in segments.parse_spec(args.segments))
    except UserError:
        return          # the run itself names the bad SPEC
    if total > ANNOUNCED_BYTES:
        progress("run", f"{args.file}: emulating the hash of {total >> 20} "
                 "MiB of segments (about a second a MiB)")


def run(args):
    corruption = segments.parse_corruption(args.corrupt) if args.corrupt else None
    limit = _instruction_limit(args.max_instructions)
    _announce(args)
    result = emulator.run(*read_object(args.file),
                          parse_size(args.addr, "--addr") if args.addr else None,
                          args.segments,
                          corruption, args.entry_from, limit,
                          parse_size(args.segments_limit, "--segments-limit"),
                          crash=args.crash, cpu=args.cpu)
    status = 0 if result.passed else 1
    if args.json:
        return print_json(result.as_dict(), status)
    print_summary(result)
    return status
