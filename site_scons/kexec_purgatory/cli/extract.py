# SPDX-License-Identifier: GPL-2.0-only
"""``kexec-purgatory extract``: write out the purgatory a kernel image (or
any other form) holds, as ``purgatory.ro``.

Exit status 0 when written, 2 when the input holds no purgatory or cannot
be read (one line; nothing is written).
"""

import os

from ..digests import sha256_hex
from ..errors import UserError
from ..files import write_atomically
from ..formats import read_blob

HELP = ("write out the purgatory.ro a kernel image (vmlinuz, vmlinux, s390 "
        "image, riscv Image) or an embedded form holds")


def add_arguments(parser):
    parser.add_argument("image", metavar="IMAGE",
                        help="a kernel image (bzImage/vmlinuz, vmlinux, s390 "
                             "image, riscv Image/Image.gz, compressed with "
                             "gzip, bzip2, lzma, xz, lz4, zstd or lzo (with "
                             "python-lzo)), or "
                             "kexec-purgatory.c/.S")
    parser.add_argument("-o", "--output", default="purgatory.ro",
                        metavar="FILE",
                        help="where to write it (default: %(default)s)")
    parser.epilog = ("Exit status: 0 written; 2 no purgatory in IMAGE or "
                     "unreadable (nothing is written).")


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def run(args):
    if _same_file(args.image, args.output):
        raise UserError(f"{args.output}: is the input {args.image}; "
                        "give another -o")
    blob = read_blob(args.image)
    if blob.kind != "elf":
        raise UserError(f"{args.image}: holds a relocated image ({blob.form}), "
                        "not a purgatory.ro to extract")
    write_atomically(args.output, blob.data)
    print(f"{args.image}: {args.output}, {len(blob.data)} bytes, sha256 "
          f"{sha256_hex(blob.data)}, from {blob.origin or blob.form}")
    return 0
