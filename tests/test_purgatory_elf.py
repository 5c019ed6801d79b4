# SPDX-License-Identifier: GPL-2.0-only
"""ELF facts of the project's purgatory.ro that the kernel's loader relies
on, read with pyelftools, for both code models."""

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_RELOC_TYPE_x64
from elftools.elf.relocation import RelocationSection

ABI_SYMBOLS = {
    "purgatory_sha_regions": 256,
    "purgatory_sha256_digest": 32,
    "entry64_regs": 136,
}
ALLOWED_RELOCATIONS = {ENUM_RELOC_TYPE_x64[name] for name in (
    "R_X86_64_NONE", "R_X86_64_64", "R_X86_64_PC32", "R_X86_64_PLT32")}


def open_ro(path):
    return ELFFile(open(path, "rb"))


def symbols(elf):
    return {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols()}


def test_purgatory_is_a_little_endian_x86_64_relocatable(purgatory_ro):
    elf = open_ro(purgatory_ro)
    assert elf["e_type"] == "ET_REL"
    assert elf.elfclass == 64
    assert elf.little_endian
    assert elf["e_machine"] == "EM_X86_64"


def test_abi_symbols_are_global_defined_exactly_sized_and_not_in_nobits(purgatory_ro):
    elf = open_ro(purgatory_ro)
    table = symbols(elf)
    for name in ("purgatory_start", "stack_end", *ABI_SYMBOLS):
        sym = table[name]
        assert sym["st_info"]["bind"] == "STB_GLOBAL", name
        assert isinstance(sym["st_shndx"], int), name
        assert elf.get_section(sym["st_shndx"])["sh_type"] != "SHT_NOBITS", name
    for name, size in ABI_SYMBOLS.items():
        assert table[name]["st_size"] == size, name


def test_exactly_one_executable_loaded_section(purgatory_ro):
    elf = open_ro(purgatory_ro)
    executable = [s.name for s in elf.iter_sections()
                  if s["sh_flags"] & SH_FLAGS.SHF_ALLOC
                  and s["sh_flags"] & SH_FLAGS.SHF_EXECINSTR]
    assert executable == [".text"]


def test_only_rela_relocations_of_types_the_kernel_accepts_anywhere(purgatory_ro):
    elf = open_ro(purgatory_ro)
    assert not [s.name for s in elf.iter_sections() if s["sh_type"] == "SHT_REL"]
    types = {r["r_info_type"] for s in elf.iter_sections()
             if isinstance(s, RelocationSection) for r in s.iter_relocations()}
    assert types
    assert types <= ALLOWED_RELOCATIONS


def test_no_undefined_and_no_common_symbols(purgatory_ro):
    elf = open_ro(purgatory_ro)
    for sym in elf.get_section_by_name(".symtab").iter_symbols():
        if sym.name:
            assert sym["st_shndx"] not in ("SHN_UNDEF", "SHN_COMMON"), sym.name


def test_entry_point_is_purgatory_start(purgatory_ro):
    elf = open_ro(purgatory_ro)
    start = symbols(elf)["purgatory_start"]
    assert elf.get_section(start["st_shndx"]).name == ".text"
    assert elf["e_entry"] == start["st_value"]


def test_nothing_a_loader_should_not_load_is_kept(purgatory_ro):
    names = {s.name for s in open_ro(purgatory_ro).iter_sections()}
    assert not names & {".eh_frame", ".comment", ".note.gnu.property",
                        ".note.GNU-stack"}
