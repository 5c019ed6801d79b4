# SPDX-License-Identifier: GPL-2.0-only
"""kexec-purgatory embed: the build's embedding step, by hand.

``scons V=1`` prints this command for the embedding steps, so what the build
did can be repeated outside SCons. By hand no gate ran before it, so it runs
the checker first, as the build's CHECK gate does: an i386, AArch64 or SSE
object is refused, not embedded (``--raw`` embeds any bytes unchecked).
"""

import sys

from ..elf import ELF_MAGIC
from ..errors import UserError
from ..files import read_bytes, refuse_overwriting_input
# The C array is the form a build writes most (and bench/run.py times as a
# process against xxd -i): the other forms' modules (a compiler run, the
# loader) are imported when asked for.
from ..formats import c_array, ihex
from ..formats.embedding import DEFAULT_ARRAY_SYMBOL, DEFAULT_SIZE_SYMBOL
from .contract import print_json

HELP = ("check purgatory.ro as the build's gate does, then write it as "
        "kexec-purgatory.c (C array), kexec-purgatory.S (.incbin, assembled "
        "and checked) or Intel HEX relocated at an address")
EXIT_STATUS = ("written", "the checker found an error in FILE (nothing is "
               "written)", "FILE unreadable, not an ELF object or damaged, "
               "OUT not writable or FILE itself, or an option that does not "
               "apply to the format (nothing is written)")
DEFAULT_CC = "gcc"


def _c(args, data):
    c_array.write_c_array(args.output, args.file,
                          args.array_symbol or DEFAULT_ARRAY_SYMBOL,
                          args.size_symbol or DEFAULT_SIZE_SYMBOL, data)


def _incbin(args, data):
    from ..build.flags import split_flags
    from ..formats import incbin
    cc = split_flags(DEFAULT_CC if args.cc is None else args.cc, "--cc")
    if not cc:
        raise UserError("--cc: no compiler driver given")
    incbin.write_incbin(args.output, args.file, cc,
                        args.array_symbol or DEFAULT_ARRAY_SYMBOL,
                        args.size_symbol or DEFAULT_SIZE_SYMBOL,
                        args.incbin_path)


def _ihex(args, data):
    ihex.write_relocated_ihex(args.output, args.file,
                              args.load_addr or ihex.DEFAULT_LOAD_ADDR,
                              "--load-addr")


WRITERS = {
    "c": _c,
    "S": _incbin,
    "ihex": _ihex,
}
# Options that only some formats use: given with another, they would be
# silently ignored, so they are refused.
ONLY_FOR = {
    "raw": ("c", "S"),
    "array_symbol": ("c", "S"),
    "size_symbol": ("c", "S"),
    "incbin_path": ("S",),
    "cc": ("S",),
    "load_addr": ("ihex",),
}


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="purgatory.ro to embed")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="file to write (replaced atomically; its "
                        "directory must exist, and it must not be FILE)")
    parser.add_argument("--format", choices=list(WRITERS), default="c",
                        help="output format (default: %(default)s)")
    parser.add_argument("--abi", choices=("kernel", "none"), default="kernel",
                        help="the checker's rules, as for 'check --abi': "
                        "'kernel' (default) also the symbols the kernel "
                        "shares with the purgatory, 'none' loadability only")
    parser.add_argument("--raw", action="store_true",
                        help="c, S: embed FILE's bytes as they are, unchecked, "
                        "even if it is not an ELF object")
    parser.add_argument("--array-symbol",
                        help="c, S: name of the byte array (default: "
                        f"{DEFAULT_ARRAY_SYMBOL})")
    parser.add_argument("--size-symbol",
                        help="c, S: name of the size variable (default: "
                        f"{DEFAULT_SIZE_SYMBOL})")
    parser.add_argument("--incbin-path", metavar="PATH",
                        help="S: the path .incbin names, as the assembler "
                        "that uses the file will find it (default: FILE's name)")
    parser.add_argument("--cc",
                        help="S: compiler driver that assembles the file "
                        f"to check it (default: {DEFAULT_CC})")
    parser.add_argument("--load-addr",
                        help="ihex: address to relocate the image to, page "
                        "aligned, below 4 GiB (default: "
                        f"{ihex.DEFAULT_LOAD_ADDR})")


def command(form, source, output, **options):
    """The command line of the build's step writing ``form``."""
    from . import command_words
    return command_words("embed", source, format=form, output=output, **options)


def _refuse_options_of_other_formats(args):
    for dest, forms in ONLY_FOR.items():
        if getattr(args, dest) not in (None, False) and args.format not in forms:
            option = "--" + dest.replace("_", "-")
            raise UserError(f"{option}: applies to --format "
                            f"{' and '.join(forms)} only, not {args.format}")


def _checked(args, data):
    """Findings of the checker (the build's CHECK gate) on FILE; refuses
    (exit 1, or 2 for a damaged file) when it finds an error."""
    if args.raw:
        return []
    if not data.startswith(ELF_MAGIC):
        raise UserError(f"{args.file}: not an ELF object (--raw embeds any "
                        "bytes)")
    from .. import check    # capstone: only when checking
    findings = check.check_elf(data, args.file, args.abi)
    damage = [f for f in findings if f.damaged]
    if damage:      # unusable input, as every command says of it
        raise UserError(f"{args.file}: damaged ELF object: {damage[0].message}")
    status = check.exit_status(findings)
    if status:      # one line: the first error, and how many more
        errors = [f for f in findings if f.severity == check.ERROR]
        raise UserError(f"{args.file}: not embedded: {errors[0].rule}: "
                        f"{errors[0].message}"
                        + (f" (and {len(errors) - 1} more errors)"
                           if len(errors) > 1 else ""), exit_code=status)
    if not args.json:
        for finding in findings:        # warnings of an object embedded
            print(finding.text(), file=sys.stderr)
    return findings


def run(args):
    _refuse_options_of_other_formats(args)
    refuse_overwriting_input(args.output, args.file)
    data = read_bytes(args.file)
    findings = _checked(args, data)
    WRITERS[args.format](args, data)
    if args.json:
        print_json({"file": args.file, "output": args.output,
                    "format": args.format, "bytes": len(data),
                    "findings": [f.as_dict() for f in findings]}, 0)
    return 0
