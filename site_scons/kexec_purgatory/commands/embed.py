# SPDX-License-Identifier: GPL-2.0-only
"""kexec-purgatory embed: the build's embedding step, by hand.

``scons V=1`` prints this command for the embedding step, so what the build
did can be repeated outside SCons.
"""

import os

from .. import embed
from ..files import read_bytes, write_atomically

HELP = "write purgatory.ro as kexec-purgatory.c (a C byte array)"

FORMATS = {
    "c": embed.c_array,
}


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE", help="purgatory.ro to embed")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="file to write (replaced atomically)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="c",
                        help="output format (default: %(default)s)")
    parser.add_argument("--array-symbol", default=embed.DEFAULT_ARRAY_SYMBOL,
                        help="name of the byte array (default: %(default)s)")
    parser.add_argument("--size-symbol", default=embed.DEFAULT_SIZE_SYMBOL,
                        help="name of the size variable (default: %(default)s)")


def run(args):
    data = read_bytes(args.file)
    text = FORMATS[args.format](data, os.path.basename(args.file),
                                args.array_symbol, args.size_symbol)
    write_atomically(args.output, text)
    return 0
