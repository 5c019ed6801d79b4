# SPDX-License-Identifier: GPL-2.0-only
"""ppc64le: Kbuild's 6.12 purgatory passes the checker and loads anywhere;
objects broken the ways powerpc's loader refuses are refused, culprit and
rule named (abi/ppc64le.py holds the facts, cited in the kernel)."""

import struct

import pytest
from elftools.elf.elffile import ELFFile

import ppc64le_objects
from kexec_purgatory import abi
from kexec_purgatory.abi import ppc64le
from kexec_purgatory.check import ERROR, check_file
from kexec_purgatory.elf import loader
from kexec_purgatory.errors import UserError

needs_cross = pytest.mark.skipif(not ppc64le_objects.cross_tools(),
                                 reason=f"{ppc64le_objects.GCC} is not installed")

LOW = ppc64le.MIN_LOAD_ADDRESS
MIDDLE = 0x2000_0000                    # inside a hash MMU's 1 GiB RMA
HIGH = 0x7fff_ffff_0000                 # radix: anywhere in memory


@pytest.fixture(scope="module")
def kbuild_ro(kernel_trees):
    tree = kernel_trees.prepared("6.12-ppc64el")
    return tree.kbuild_purgatory_dir / "purgatory.ro"


def errors(path):
    return [f for f in check_file(str(path)) if f.severity == ERROR]


def only(findings, rule):
    found = [f for f in findings if f.rule == rule]
    assert found, [f.text() for f in findings]
    return found


def test_ppc64le_is_registered_for_em_ppc64():
    assert abi.for_machine("EM_PPC64") is ppc64le
    assert "EM_PPC64" not in abi.NOT_YET
    assert ppc64le.SYMBOLS["purgatory_start"] == ppc64le.SLAVE_CODE_SIZE == 256
    assert ppc64le.SYMBOLS["run_at_load"] == 4
    assert all(ppc64le.SYMBOLS[n] == 8 for n in ppc64le_objects.WORDS)
    assert ppc64le.RELOCATIONS == {} and ppc64le.RELA_APPLIED is False
    assert ppc64le.relocation_name(38) == "R_PPC64_ADDR64"
    assert ppc64le.relocation_name(10) == "R_PPC64_REL24"


# -- Kbuild's purgatory -------------------------------------------------------

def test_kbuilds_purgatory_passes_the_checker_with_no_error(kbuild_ro):
    findings = check_file(str(kbuild_ro))
    assert [f.text() for f in findings if f.severity == ERROR] == []
    # Debian's config keeps DWARF in it: a warning, not an error.
    assert {f.rule for f in findings} <= {"dead-weight"}


@pytest.mark.parametrize("address", [LOW, MIDDLE, HIGH], ids=["low", "middle", "high"])
def test_kbuilds_purgatory_loads_unchanged_at_any_address(kbuild_ro, address):
    """Nothing is relocated: the image is .text then .data at every address,
    the entry is purgatory_start, and every symbol the kernel sets takes
    exactly its size."""
    loaded = loader.load_file(str(kbuild_ro), address)
    elf = ELFFile(open(kbuild_ro, "rb"))
    text, data = elf.get_section_by_name(".text"), elf.get_section_by_name(".data")
    assert loaded.image[:text["sh_size"]] == text.data()
    offset = loaded.sections[elf.get_section_index(".data")].offset
    assert loaded.image[offset:offset + data["sh_size"]] == data.data()
    assert loaded.entry == address == loaded.symbol_address("purgatory_start")
    assert loaded.entry_source == "purgatory_start"
    for name, size in ppc64le.SYMBOLS.items():
        loaded.set_symbol(name, bytes(range(size)))
        assert loaded.get_symbol(name, size) == bytes(range(size))


def kbuild_patched(tmp_path, kbuild_ro, offset, word):
    """Kbuild's purgatory with the instruction at .text+offset replaced."""
    data = bytearray(kbuild_ro.read_bytes())
    text = ELFFile(open(kbuild_ro, "rb")).get_section_by_name(".text")
    at = text["sh_offset"] + offset
    data[at:at + 4] = struct.pack("<I", word)
    path = tmp_path / "purgatory.ro"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("word, kind, text", [
    (0xfc22182a, "floating point", "fadd f1, f2, f3"),
    (0x10221800, "Altivec", "vaddubm v1, v2, v3"),
    (0xf0011490, "VSX", "xxlor vs0, vs1, vs2"),
], ids=["fadd", "vaddubm", "xxlor"])
def test_kbuilds_purgatory_with_one_vector_or_fp_instruction_is_refused(
        tmp_path, kbuild_ro, word, kind, text):
    """master's first instruction ('or 1,1,1', at .text+0x100) replaced."""
    path = kbuild_patched(tmp_path, kbuild_ro, 0x100, word)
    [finding] = only(errors(path), "fpu-simd")
    assert finding.message.startswith(f"{kind} instruction '{text}' at .text+0x100 "
                                      "(master+0x0)")
    assert "-msoft-float -mno-altivec -mno-vsx" in finding.message


def test_kbuilds_purgatory_with_a_wrong_symbol_size_is_refused(tmp_path, kbuild_ro):
    data = bytearray(kbuild_ro.read_bytes())
    elf = ELFFile(open(kbuild_ro, "rb"))
    symtab = elf.get_section_by_name(".symtab")
    index = next(i for i, s in enumerate(symtab.iter_symbols())
                 if s.name == "run_at_load")
    at = symtab["sh_offset"] + index * 24 + 16          # Elf64_Sym.st_size
    data[at:at + 8] = struct.pack("<Q", 8)
    path = tmp_path / "purgatory.ro"
    path.write_bytes(bytes(data))
    [finding] = only(errors(path), "abi-symbol")
    assert finding.symbol == "run_at_load"
    assert "size 8, the kernel reads and writes exactly 4" in finding.message
    loaded = loader.load_file(str(path), LOW)
    with pytest.raises(loader.LoadError, match="symbol run_at_load size "
                       "mismatch: expected 4 actual 8"):
        loaded.set_symbol("run_at_load", struct.pack("<I", 1))


# -- Objects from the cross compiler ------------------------------------------

@needs_cross
def test_the_test_trampoline_passes_every_rule_and_loads(tmp_path):
    path = ppc64le_objects.trampoline(tmp_path)
    assert [f.text() for f in check_file(str(path))] == []
    loaded = loader.load_file(str(path), MIDDLE)
    assert loaded.entry == MIDDLE


@needs_cross
@pytest.mark.parametrize("extra, relocation", [
    ("\tbl\tkernel\n", "R_PPC64_REL24"),
    ("\tb\t1f\n\t.8byte kernel\n1:\n", "R_PPC64_ADDR64"),
    ("\taddis\t%r3, %r2, kernel@toc@ha\n", "R_PPC64_TOC16_HA"),
], ids=["rel24", "addr64", "toc16-ha"])
def test_any_relocation_is_refused_as_the_kernel_does(tmp_path, extra, relocation):
    path = ppc64le_objects.trampoline(tmp_path, extra=extra)
    findings = errors(path)
    [section] = only(findings, "rel-section")
    assert section.section == ".rela.text"
    assert '"RELA relocation unsupported."' in section.message
    [reloc] = only(findings, "reloc-type")
    assert (reloc.relocation, reloc.symbol, reloc.section) == (relocation, "kernel", ".text")
    assert reloc.message.startswith(f"{relocation} at .text+")
    with pytest.raises(loader.LoadError) as error:
        loader.load_file(str(path), MIDDLE)
    assert error.value.kernel_message == "RELA relocation unsupported."
    assert "section .rela.text relocating .text" in str(error.value)


@needs_cross
def test_relocations_of_debug_sections_are_not_refused(tmp_path):
    """Kbuild's own purgatory has .rela.debug_*: not SHF_ALLOC, skipped."""
    directory = tmp_path
    source = ppc64le_objects.trampoline(directory, name="plain").with_suffix(".S")
    obj = directory / "debug.o"
    ppc64le_objects.run_tool([ppc64le_objects.GCC, "-g", "-c", source, "-o", obj],
                             directory)
    path = ppc64le_objects.link(directory, "debug", obj)
    names = [s.name for s in ELFFile(open(path, "rb")).iter_sections()]
    assert ".rela.debug_info" in names
    assert errors(path) == []
    loader.load_file(str(path), LOW)


@needs_cross
def test_a_symbol_of_the_wrong_size_is_refused(tmp_path):
    path = ppc64le_objects.trampoline(tmp_path, run_at_load_size=8)
    [finding] = only(errors(path), "abi-symbol")
    assert finding.symbol == "run_at_load"
    assert "'run_at_load' has size 8" in finding.message


@needs_cross
@pytest.mark.parametrize("name", ["opal_entry", "kernel"])
def test_a_missing_required_symbol_is_refused(tmp_path, name):
    path = ppc64le_objects.trampoline(tmp_path, missing=[name])
    [finding] = only(errors(path), "abi-symbol")
    assert finding.symbol == name
    assert finding.message == f"required symbol '{name}' is missing"
    loaded = loader.load_file(str(path), LOW)
    with pytest.raises(UserError, match=f"symbol {name} not found"):
        loaded.set_symbol(name, bytes(8))


@needs_cross
def test_a_local_required_symbol_is_refused(tmp_path):
    path = ppc64le_objects.trampoline(tmp_path, local=["dt_offset"])
    [finding] = only(errors(path), "abi-symbol")
    assert finding.symbol == "dt_offset"
    assert "STB_LOCAL" in finding.message


MULTIPLY = "double purgatory_scale(double x, double y) { return x * y; }\n"
ADD = ("void purgatory_add(long *a, const long *b)\n"
       "{ for (int i = 0; i < 64; i++) a[i] += b[i]; }\n")


@needs_cross
@pytest.mark.parametrize("source, cflags, kind", [
    (MULTIPLY, ["-O2"], ("floating point",)),
    # lxvx on VSR 33 (VSX): capstone 5 names it v1 with no VSX group, so it
    # is found as Altivec; forbidden either way.
    (ADD, ["-O3", "-mcpu=power9"], ("Altivec", "VSX")),
], ids=["double-hard-float", "vectorised-power9"])
def test_c_built_without_the_kernels_flags_is_refused_and_with_them_passes(
        tmp_path, source, cflags, kind):
    """The same C file: with gcc's defaults it uses FP or VSX; with
    -msoft-float -mno-altivec -mno-vsx it does not."""
    trampoline = tmp_path / "trampoline.o"
    ppc64le_objects.trampoline(tmp_path, name="trampoline")
    bad_obj = ppc64le_objects.compile_c(tmp_path, "bad", source, cflags)
    bad = ppc64le_objects.link(tmp_path, "bad", trampoline, bad_obj)
    found = only(errors(bad), "fpu-simd")
    assert found[0].message.split(" instruction")[0] in kind
    assert found[0].symbol in ("purgatory_scale", "purgatory_add")
    if source is MULTIPLY:
        return      # soft-float turns the multiply into a call to __muldf3
    good_obj = ppc64le_objects.compile_c(
        tmp_path, "good", source,
        [*cflags, "-msoft-float", "-mno-altivec", "-mno-vsx"])
    good = ppc64le_objects.link(tmp_path, "good", trampoline, good_obj)
    assert [f.rule for f in errors(good) if f.rule == "fpu-simd"] == []


@needs_cross
def test_big_endian_ppc64_is_named_and_checked_for_its_header_only(tmp_path):
    path = ppc64le_objects.trampoline(tmp_path, big_endian=True)
    [finding] = check_file(str(path))
    assert finding.rule == "unchecked-machine"
    assert "big-endian ppc64" in finding.message
    with pytest.raises(UserError, match="not a 64-bit little-endian ppc64le object"):
        loader.load_file(str(path), LOW)
