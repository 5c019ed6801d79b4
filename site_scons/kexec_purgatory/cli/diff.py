# SPDX-License-Identifier: GPL-2.0-only
"""kexec-purgatory diff: what differs between two purgatories, by section,
symbol, relocation and instruction, whatever form each is given in."""

from ..elf import diff as elfdiff
from ..formats import read_blob, relocated
from .contract import print_json

HELP = ("compare two purgatories (purgatory.ro, kexec-purgatory.c, .incbin "
        ".S, Intel HEX or a kernel image): sections, symbols, relocations, "
        "instructions")
EXIT_STATUS = ("identical", "different", "A or B unreadable or damaged")


def add_arguments(parser):
    parser.add_argument("a", metavar="A", help="first purgatory, in any form")
    parser.add_argument("b", metavar="B", help="second purgatory, in any form")


def compare_files(path_a, path_b):
    """The comparison report of two files (UserError if unreadable)."""
    a, b = read_blob(path_a), read_blob(path_b)
    # A kernel image's purgatory is named IMAGE[purgatory].
    path_a, path_b = a.name or path_a, b.name or path_b
    if a.kind == b.kind == "elf":
        return elfdiff.compare_elf(a.data, b.data, path_a, path_b)
    # An object compared with an image is loaded at the image's address,
    # as the kernel would, and its layout names the section of a difference.
    sections = []
    base = (a if a.kind == "image" else b).base
    images = []
    for blob, path in ((a, path_a), (b, path_b)):
        if blob.kind == "image":
            images.append(blob.data)
        else:
            image, sections = relocated(blob, base, path)
            images.append(image)
    return elfdiff.compare_images(images[0], a.base if a.kind == "image" else base,
                                  images[1], b.base if b.kind == "image" else base,
                                  path_a, path_b, sections)


def run(args):
    report = compare_files(args.a, args.b)
    status = 0 if report["identical"] else 1
    if args.json:
        return print_json(report, status)
    print("\n".join(elfdiff.format_report(report)))
    return status
