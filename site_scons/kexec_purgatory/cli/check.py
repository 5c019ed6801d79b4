# SPDX-License-Identifier: GPL-2.0-only
"""``kexec-purgatory check``: run the purgatory checker on objects.

Exit status: 0 when no file has an error (warnings too with --strict), 1
when one has, 2 when a file cannot be read, is not an ELF object or is
damaged (its tables run past its end); each such file gets one line on
stderr and the others are still checked.
"""

import sys

from .. import check
from ..errors import UserError
from ..formats import read_object
from .contract import print_error, print_json

HELP = "check purgatory objects against the kernel's loader rules"
EXIT_STATUS = ("no error found (nor a warning, with --strict)",
               "an error found (or a warning, with --strict)",
               "a FILE unreadable, not an ELF object or damaged (the others "
               "are still checked)")


def _abi_symbols():
    """Each architecture's ABI symbols, for the help text."""
    from .. import abi
    return "; ".join(f"{m.NAME}: {', '.join(m.SYMBOLS)}"
                     for m in abi.ARCHITECTURES.values())


def add_arguments(parser):
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="purgatory.ro or any relocatable object, or a "
                             "kernel image (vmlinuz, vmlinux, ...): its "
                             "purgatory, named IMAGE[purgatory]")
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 1) on warnings too")
    parser.add_argument("--simd", choices=check.SIMD_MODES,
                        default=check.DISPATCHED,
                        help="'dispatched' (default): SSE allowed only in the "
                             "ABI's SIMD functions (x86_64: this tree's "
                             "sha256_blocks_sha_ni), which the simd-dispatch "
                             "rule proves are reached only from the dispatch "
                             "(sha256_blocks, which runs CPUID) and turn SSE "
                             "on and off themselves; SIMD anywhere else is "
                             "refused. 'none': no x87/MMX/SSE/AVX instruction "
                             "at all (what the build checks for every tree "
                             "but this one, kernel mode included)")
    parser.add_argument("--abi", choices=check.ABIS, default=check.KERNEL_ABI,
                        help="'kernel' (default): also check the symbols the "
                             "kernel of the object's architecture shares with "
                             "its purgatory (" + _abi_symbols() + "); 'none': "
                             "loadability rules only")


def command(source, abi, simd):
    """The command line of the build's CHECK step."""
    from . import command_words
    return command_words("check", source, abi=abi, simd=simd)


def run(args):
    findings, errors = [], []
    status = 0
    for path in args.files:
        try:
            found = check.check_elf(*read_object(path), args.abi, args.simd)
            damage = [f for f in found if f.damaged]
            if damage:      # unusable input, as every command says of it
                raise UserError(f"{path}: damaged ELF object: "
                                f"{damage[0].message}")
        except UserError as e:
            print_error(e)
            errors.append({"file": path, "error": str(e)})
            status = 2
            continue
        findings += found
        if not args.json:
            for finding in found:
                print(finding.text())
        status = max(status, check.exit_status(found, args.strict))
    if args.json:
        result = {"findings": [f.as_dict() for f in findings], "errors": errors}
        if errors:
            result["error"] = errors[0]["error"]
        print_json(result, status, sort_keys=False)
    return status
