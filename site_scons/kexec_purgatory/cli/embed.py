# SPDX-License-Identifier: GPL-2.0-only
"""kexec-purgatory embed: the build's embedding step, by hand.

``scons V=1`` prints this command for the embedding steps, so what the build
did can be repeated outside SCons.
"""

from ..build.flags import split_flags
from ..elf import ELF_MAGIC
from ..errors import UserError
from ..files import read_bytes
from ..formats import c_array, ihex, incbin
from ..formats.embedding import DEFAULT_ARRAY_SYMBOL, DEFAULT_SIZE_SYMBOL

HELP = ("write purgatory.ro as kexec-purgatory.c (C array), "
        "kexec-purgatory.S (.incbin, assembled and checked) or Intel HEX "
        "relocated at an address")


def _require_elf(args, data):
    if not args.raw and not data.startswith(ELF_MAGIC):
        raise UserError(f"{args.file}: not an ELF object (--raw embeds any "
                        "bytes)")


def _c(args):
    data = read_bytes(args.file)
    _require_elf(args, data)
    c_array.write_c_array(args.output, args.file, args.array_symbol,
                        args.size_symbol, data)


def _incbin(args):
    _require_elf(args, read_bytes(args.file, len(ELF_MAGIC)))
    cc = split_flags(args.cc, "--cc")
    if not cc:
        raise UserError("--cc: no compiler driver given")
    incbin.write_incbin(args.output, args.file, cc,
                        args.array_symbol, args.size_symbol, args.incbin_path)


def _ihex(args):
    ihex.write_relocated_ihex(args.output, args.file, args.load_addr,
                              "--load-addr")


WRITERS = {
    "c": _c,
    "S": _incbin,
    "ihex": _ihex,
}


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="purgatory.ro to embed")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="file to write (replaced atomically)")
    parser.add_argument("--format", choices=list(WRITERS), default="c",
                        help="output format (default: %(default)s)")
    parser.add_argument("--raw", action="store_true",
                        help="c, S: embed FILE's bytes even if it is not an "
                        "ELF object")
    parser.add_argument("--array-symbol", default=DEFAULT_ARRAY_SYMBOL,
                        help="name of the byte array (default: %(default)s)")
    parser.add_argument("--size-symbol", default=DEFAULT_SIZE_SYMBOL,
                        help="name of the size variable (default: %(default)s)")
    parser.add_argument("--incbin-path", metavar="PATH",
                        help="S: the path .incbin names, as the assembler "
                        "that uses the file will find it (default: FILE's name)")
    parser.add_argument("--cc", default="gcc",
                        help="S: compiler driver that assembles the file "
                        "to check it (default: %(default)s)")
    parser.add_argument("--load-addr", default=ihex.DEFAULT_LOAD_ADDR,
                        help="ihex: address to relocate the image to, page "
                        "aligned, below 4 GiB (default: %(default)s)")


def command(form, source, output, **options):
    """The command line of the build's step writing ``form``."""
    from . import command_words
    return command_words("embed", source, format=form, output=output, **options)


def run(args):
    WRITERS[args.format](args)
    return 0
