# SPDX-License-Identifier: GPL-2.0-only
"""Where the kernel puts each section of a purgatory: one computation,
shared by the loader (which places and relocates) and the checker (which
judges the same layout at build time).

kernel/kexec_file.c, kexec_purgatory_setup_kbuf() and
kexec_purgatory_setup_sechdrs(): only SHF_ALLOC sections are loaded, in
section-header order; non-NOBITS ones are packed into one buffer, each at
ALIGN(offset, sh_addralign); the buffer is padded to the largest NOBITS
alignment and the NOBITS sections follow it, zero-filled. The buffer's
placement must honour the page size and every section's alignment.
"""

from dataclasses import dataclass

from elftools.elf.constants import SH_FLAGS

from ..errors import UserError


@dataclass
class Layout:
    """The kernel's packing of SHF_ALLOC sections (before placement)."""
    sections: list     # (index, offset) in header order
    bufsz: int         # PROGBITS part padded to the NOBITS alignment: the
                       # buffer the kernel copies
    memsz: int         # with the zero-filled NOBITS part after it
    align: int         # what the placement address must be a multiple of


def is_loaded(section):
    return bool(section["sh_flags"] & SH_FLAGS.SHF_ALLOC)


def alignment_is_valid(align):
    """ALIGN(offset, a) is only right for powers of two: with 0 the kernel
    restarts at offset 0, over the sections before."""
    return align != 0 and not align & (align - 1)


def bad_alignments(elf):
    """Loaded sections whose sh_addralign the kernel's layout mishandles."""
    return [s for s in elf.iter_sections()
            if is_loaded(s) and not alignment_is_valid(s["sh_addralign"])]


def _align_up(value, align):
    return (value + align - 1) & ~(align - 1)


def compute_layout(elf, name, page_size):
    """Pack SHF_ALLOC sections as the kernel does; UserError naming the
    first section whose alignment is not a power of two (refused here
    rather than copied)."""
    buf_sz = bss_sz = 0
    buf_align = bss_align = 1
    progbits, nobits = [], []
    for index, section in enumerate(elf.iter_sections()):
        if not is_loaded(section):
            continue
        align = section["sh_addralign"]
        if not alignment_is_valid(align):
            raise UserError(f"{name}: section {section.name}: alignment "
                            f"{align} is not a power of two")
        if section["sh_type"] == "SHT_NOBITS":
            bss_align = max(bss_align, align)
            bss_sz = _align_up(bss_sz, align)
            nobits.append((index, bss_sz))
            bss_sz += section["sh_size"]
        else:
            buf_align = max(buf_align, align)
            buf_sz = _align_up(buf_sz, align)
            progbits.append((index, buf_sz))
            buf_sz += section["sh_size"]
    buf_sz = _align_up(buf_sz, bss_align)
    sections = sorted(progbits + [(i, buf_sz + off) for i, off in nobits])
    return Layout(sections=sections, bufsz=buf_sz, memsz=buf_sz + bss_sz,
                  align=max(page_size, buf_align, bss_align))
