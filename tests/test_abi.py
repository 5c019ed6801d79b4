# SPDX-License-Identifier: GPL-2.0-only
"""The ABI module is the one place the kernel<->purgatory contract lives:
this tree's sources, the built object, the loader and the checker agree
with it."""

import re

import pytest

from conftest import REPO
from kexec_purgatory import abi
from kexec_purgatory.abi import x86_64
from kexec_purgatory.elf import loader
from kexec_purgatory.elf.reader import open_elf, symtab_symbols
from kexec_purgatory.errors import UserError

DEFINE = re.compile(r"^#define\s+(\w+)\s+(\S+)", re.MULTILINE)


def defines(path):
    return {name: value for name, value in DEFINE.findall(path.read_text())}


def test_entry64_s_loads_the_registers_at_the_abi_offsets():
    found = defines(REPO / "arch" / "x86" / "entry64.S")
    for index, register in enumerate(x86_64.ENTRY64_REGISTERS):
        assert int(found[f"REG_{register.upper()}"], 0) == 8 * index, register
    assert int(found["ENTRY64_REGS_SIZE"], 0) == x86_64.ENTRY64_REGISTERS_SIZE


def test_purgatory_h_has_the_abi_region_count():
    found = defines(REPO / "purgatory" / "purgatory.h")
    assert int(found["PURGATORY_SHA_REGIONS"]) == x86_64.MAX_REGIONS


@pytest.mark.parametrize("model", ["pic", "large"])
def test_built_object_has_every_abi_symbol_at_its_abi_size(built, model):
    elf = open_elf(str(built(model) / "purgatory.ro"))
    symbols = {s.name: s for s in symtab_symbols(elf)
               if s["st_info"]["bind"] == "STB_GLOBAL"}
    for name, size in x86_64.SYMBOLS.items():
        assert name in symbols, name
        if size is not None:
            assert symbols[name]["st_size"] == size, name


def test_loader_applies_exactly_the_abi_relocation_types():
    """Every type the ABI lists encodes; no other number is known to it."""
    for number, rtype in x86_64.RELOCATIONS.items():
        assert rtype.number == number
        assert x86_64.relocation_name(number) == rtype.name
        assert len(rtype.encode(0x1000, 0x2000)) == rtype.width
    assert x86_64.relocation_name(41) == "R_X86_64_GOTPCRELX"
    assert x86_64.relocation_name(999) == "type 999"


def test_overflow_rules_are_the_kernels():
    r32, r32s = x86_64.RELOCATIONS[10], x86_64.RELOCATIONS[11]
    assert r32.fits(0xffffffff) and not r32.fits(1 << 32)
    assert r32s.fits(0x7fffffff) and not r32s.fits(0x80000000)
    assert r32s.fits((1 << 64) - 1) and not r32s.fits((1 << 64) - (1 << 31) - 1)


def test_an_object_of_an_unknown_machine_is_named_with_its_machine():
    with pytest.raises(UserError, match="x.o: EM_SPARCV9 has no purgatory ABI"):
        abi.for_machine("EM_SPARCV9", "x.o")
    with pytest.raises(UserError, match="x.o: AArch64: kexec_file loads no "
                                        "purgatory on arm64"):
        abi.for_machine("EM_AARCH64", "x.o")


def test_loader_reads_the_entry_rule_from_the_abi(built):
    loaded = loader.load_file(str(built("pic") / "purgatory.ro"), 1 << 32)
    assert loaded.abi is x86_64
    assert loaded.entry_source == x86_64.ENTRY_SYMBOL
    assert loaded.entry == loaded.symbol_address(x86_64.ENTRY_SYMBOL)


@pytest.mark.parametrize("module", sorted(abi.ARCHITECTURES.values(),
                                          key=lambda m: m.NAME),
                         ids=lambda m: m.NAME)
def test_every_architecture_provides_the_whole_interface(module):
    missing = [name for name in abi.INTERFACE if not hasattr(module, name)]
    assert not missing, f"{module.NAME}: {missing}"
    assert abi.for_machine(module.E_MACHINE) is module
    for number, rtype in module.RELOCATIONS.items():
        for attribute in ("name", "width", "pc_relative", "anywhere", "fits",
                          "apply"):
            assert hasattr(rtype, attribute), (module.NAME, number, attribute)
    assert module.ENTRY_SYMBOL in module.SYMBOLS
