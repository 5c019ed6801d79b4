# SPDX-License-Identifier: GPL-2.0-only
"""Symbols and relocations the kernel resolves without a word, wrongly.

kernel/kexec_file.c, kexec_purgatory_setup_sechdrs(), gives an address
(sh_addr) and a buffer offset (sh_offset) only to SHF_ALLOC sections, and
the non-NOBITS ones only; every other section keeps the values of the
file. So:

- a symbol in a section the kernel does not load resolves to the file's
  sh_addr (0 in an ld -r object) plus st_value, in the relocation
  appliers (arch/x86/kernel/machine_kexec_64.c,
  arch/s390/kernel/machine_kexec_file.c and
  arch/riscv/kernel/machine_kexec_file.c,
  arch_kexec_apply_relocations_add(): ``pi->sechdrs[st_shndx].sh_addr``)
  and in kexec_purgatory_get_symbol_addr(); and
  kexec_purgatory_get_set_symbol() copies at purgatory_buf + the file's
  sh_offset + st_value, outside the purgatory;
- a relocation patching a NOBITS section writes at purgatory_buf + the
  file's sh_offset + r_offset (the appliers' ``section->sh_offset``): the
  zero-filled section never sees it;
- kexec_purgatory_get_set_symbol() copies st_size bytes at st_value
  without comparing them with the section's size.

The checker reports each of these (rules ``unloaded-section``,
``nobits-relocation``, ``abi-symbol``) and the loader refuses them with
the same words, so what the checker accepts the loader places.
"""

from elftools.elf.constants import SH_FLAGS


def symbol_label(sym, name=None):
    return f"'{name if name is not None else sym.name}'"


def unloaded_section_problem(section, sym, name=None):
    """Why the kernel resolves ``sym`` wrongly because ``section``, the one
    it is defined in (None: UNDEF, ABS...), is not loaded, or None;
    ``name`` is what to call it (a section symbol's section name)."""
    if section is None or section["sh_flags"] & SH_FLAGS.SHF_ALLOC:
        return None
    return (f"{symbol_label(sym, name)} is defined in '{section.name}', a "
            f"section the kernel does not load (not SHF_ALLOC): it takes "
            f"the file's sh_addr {section['sh_addr']:#x} + st_value "
            f"{sym['st_value']:#x} for its address, which is not in the "
            f"purgatory")


def outside_section_problem(section, sym, size, name=None):
    """Why ``size`` bytes at ``sym`` (0: the address only) are not inside
    ``section``, the one it is defined in, or None."""
    if section is None:
        return None
    start, limit = sym["st_value"], section["sh_size"]
    if start + size <= limit:
        return None
    what = f"{size} bytes at" if size else "its address"
    return (f"{symbol_label(sym, name)}: {what} {section.name}+{start:#x} "
            f"lie outside '{section.name}' ({limit:#x} bytes): the kernel "
            f"reads and writes there without checking")


def nobits_target_problem(relsec, target):
    """Why the relocations of ``relsec`` never reach ``target``, or None."""
    if target["sh_type"] != "SHT_NOBITS" or not relsec["sh_size"]:
        return None
    return (f"'{relsec.name}' patches '{target.name}', a NOBITS section: "
            f"the kernel writes at the file's sh_offset "
            f"{target['sh_offset']:#x} in its purgatory buffer instead, and "
            f"'{target.name}' is zero-filled")
