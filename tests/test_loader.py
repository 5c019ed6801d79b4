# SPDX-License-Identifier: GPL-2.0-only
"""The kernel-faithful loader: layout, relocation, symbols, entry and the
kernel's error wording, on objects made by the real toolchain."""

import re
import struct

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from intelhex import IntelHex

from kexec_purgatory import abi
from kexec_purgatory.elf import loader
from kexec_purgatory.errors import UserError

import elf_objects
import mini_purgatory

from conftest import kexec_purgatory_cli


def load_path(path, address, entry_from=abi.x86_64.ENTRY_FROM_SYMBOL):
    return loader.load(path.read_bytes(), str(path), address, entry_from)


def kernel_message(action, *args):
    """The kernel's words in the LoadError that ``action(*args)`` raises."""
    with pytest.raises(loader.LoadError) as error:
        action(*args)
    return error.value.kernel_message


def symbol_value(path, name):
    with open(path, "rb") as f:
        elf = ELFFile(f)
        sym = elf.get_section_by_name(".symtab").get_symbol_by_name(name)[0]
        return sym["st_shndx"], sym["st_value"]


LAYOUT_SOURCE = """\
	.section .text, "ax", @progbits
	.balign 16
	.byte 0x11, 0x12, 0x13, 0x14, 0x15
	.section .data, "aw", @progbits
	.balign 8
	.byte 0x21, 0x22, 0x23
	.section .comment, "", @progbits
	.string "not loaded"
	.section .rodata, "a", @progbits
	.balign 64
	.byte 0x31
	.section .bss, "aw", @nobits
	.balign 32
	.skip 10
	.section .bss.big, "aw", @nobits
	.balign 256
	.skip 4
"""


def test_layout_packs_progbits_in_header_order_then_nobits_at_largest_bss_alignment(tmp_path):
    obj = elf_objects.assemble_text(tmp_path, "layout", LAYOUT_SOURCE)
    loaded = load_path(obj, 0x7000)
    where = {s.name: s.offset for s in loaded.sections.values()}
    # .text at 0 (5 bytes), .data at ALIGN(5, 8), .rodata at ALIGN(11, 64):
    # 65 bytes, padded to 256, the largest NOBITS alignment, where NOBITS
    # start; .bss.big follows .bss at ALIGN(10, 256).
    assert where == {".text": 0, ".data": 8, ".rodata": 64, ".bss": 256, ".bss.big": 512}
    assert ".comment" not in where
    assert loaded.layout.bufsz == 256
    assert len(loaded.image) == loaded.layout.memsz == 516
    assert loaded.image[0:5] == bytes([0x11, 0x12, 0x13, 0x14, 0x15])
    assert loaded.image[8:11] == bytes([0x21, 0x22, 0x23])
    assert loaded.image[64] == 0x31
    assert loaded.image[65:] == bytes(516 - 65)
    assert {s.name: s.address for s in loaded.sections.values()}[".bss.big"] == 0x7000 + 512


@pytest.mark.parametrize("align", [0, 24])
def test_alignment_that_is_not_a_power_of_two_is_refused_zero_included(tmp_path, align):
    """The kernel's ALIGN(offset, 0) is 0: .rodata would land on .text."""
    obj = elf_objects.assemble_text(tmp_path, "layout", LAYOUT_SOURCE)
    mini_purgatory.patch_section(obj, ".rodata", sh_addralign=align)
    with pytest.raises(UserError, match=f"section .rodata: alignment {align} "
                                        "is not a power of two"):
        load_path(obj, 0x7000)


def test_load_address_must_be_page_aligned_and_not_below_0x3000(tmp_path):
    obj = elf_objects.assemble_text(tmp_path, "layout", LAYOUT_SOURCE)
    with pytest.raises(UserError, match="not a multiple of 0x1000"):
        load_path(obj, 0x7010)
    with pytest.raises(UserError, match="below 0x3000"):
        load_path(obj, 0x2000)


RELOCATIONS_SOURCE = """\
	.text
	.globl purgatory_start
purgatory_start:
	leaq target(%rip), %rax
	call helper
	ret
helper:
	ret
	.data
	.balign 8
	.globl target
target:
	.quad target + 4
	.long helper - .
"""


def test_relocations_get_the_values_of_the_final_addresses(tmp_path):
    obj = elf_objects.assemble_text(tmp_path, "relocs", RELOCATIONS_SOURCE)
    address = (1 << 40) + 0x5000
    loaded = load_path(obj, address)
    text = next(s for s in loaded.sections.values() if s.name == ".text")
    data = next(s for s in loaded.sections.values() if s.name == ".data")
    image = loaded.image
    # leaq target(%rip): PC32 relative to the end of the 7-byte instruction.
    disp, = struct.unpack_from("<i", image, text.offset + 3)
    assert text.address + 7 + disp == data.address
    # call helper: PLT32 relative to the end of the call at offset 7.
    call, = struct.unpack_from("<i", image, text.offset + 8)
    assert text.address + 12 + call == text.address + 13
    # .quad target + 4: R_X86_64_64, absolute.
    assert struct.unpack_from("<Q", image, data.offset)[0] == data.address + 4
    # .long helper - .: PC32 in data.
    rel, = struct.unpack_from("<i", image, data.offset + 8)
    assert data.address + 8 + rel == text.address + 13
    assert loaded.entry == text.address
    assert loaded.symbol_address("target") == data.address


def test_undefined_symbol_is_refused_with_the_kernels_words(tmp_path):
    obj = elf_objects.compile_c(tmp_path, "wipe", """\
void memzero_explicit(void *p, unsigned long n);
void wipe(char *p) { memzero_explicit(p, 8); }
""", elf_objects.purgatory_cflags())
    ro = elf_objects.link_relocatable(tmp_path, [obj])
    assert kernel_message(load_path, ro, 0x100000) == "Undefined symbol: memzero_explicit"


NONE_RELOCATION = """\
	.text
	.globl	purgatory_start
purgatory_start:
	.reloc	., R_X86_64_NONE{symbol}
	ret
"""


@pytest.mark.parametrize("symbol, name", [(", missing_symbol", "missing_symbol"),
                                          ("", "")])
def test_none_relocation_against_an_undefined_symbol_is_refused_like_any_other(tmp_path, symbol, name):
    """The kernel resolves a relocation's symbol before it looks at the type."""
    obj = elf_objects.assemble_text(tmp_path, "none",
                                    NONE_RELOCATION.format(symbol=symbol))
    ro = elf_objects.link_relocatable(tmp_path, [obj])
    assert relocation_types(ro) == {0}
    assert kernel_message(load_path, ro, 0x100000) == f"Undefined symbol: {name}"


def test_none_relocation_against_a_defined_symbol_changes_nothing(tmp_path):
    obj = elf_objects.assemble_text(tmp_path, "none", NONE_RELOCATION.format(
        symbol=", purgatory_start"))
    ro = elf_objects.link_relocatable(tmp_path, [obj])
    assert bytes(load_path(ro, 0x100000).image) == b"\xc3"


ADDRESS_OF_GLOBAL = "int value = 1;\nint *where(void) { return &value; }\n"


def overflow_value(message, kind):
    match = re.fullmatch(rf"Overflow in relocation type {kind} value (0x[0-9a-f]+)", message)
    assert match, message
    return int(match.group(1), 16)


def test_32s_relocation_above_2_gib_overflows_with_the_kernels_words(tmp_path):
    obj = elf_objects.compile_c(tmp_path, "kernel_model", ADDRESS_OF_GLOBAL,
                                elf_objects.purgatory_cflags("large", ["-mcmodel=kernel"]))
    load_path(obj, 0x7fff0000)      # below 2 GiB the value sign-extends
    value = overflow_value(kernel_message(load_path, obj, 0x80000000), 11)
    assert 0x80000000 <= value < 0x80000000 + 0x1000


def test_32_relocation_overflows_above_4_gib_but_not_at_2_gib(tmp_path):
    obj = elf_objects.compile_c(tmp_path, "small_nopic", ADDRESS_OF_GLOBAL,
                                elf_objects.purgatory_cflags("large", ["-mcmodel=small"]))
    load_path(obj, 0x80000000)      # zero-extends: fine for R_X86_64_32
    value = overflow_value(kernel_message(load_path, obj, 1 << 32), 10)
    assert 1 << 32 <= value < (1 << 32) + 0x1000


def test_rel_section_is_refused_with_the_kernels_words(tmp_path):
    obj = elf_objects.rel_object(tmp_path, """\
	.text
	.globl purgatory_start
purgatory_start:
	movl $value, %eax
	ret
	.data
value:	.long 1
""")
    assert kernel_message(load_path, obj, 0x100000) == "REL relocation unsupported"


def test_common_symbol_is_refused(tmp_path):
    obj = elf_objects.compile_c(tmp_path, "common", "int counter;\nint *where(void) { return &counter; }\n",
                                elf_objects.purgatory_cflags("large", ["-fcommon"]))
    ro = elf_objects.link_relocatable(tmp_path, [obj])
    assert symbol_value(ro, "counter")[0] == "SHN_COMMON"
    assert kernel_message(load_path, ro, 0x100000) == "symbol 'counter' in common section"


def relocation_types(path):
    with open(path, "rb") as f:
        return {r["r_info_type"] for s in ELFFile(f).iter_sections()
                if isinstance(s, RelocationSection) for r in s.iter_relocations()}


def test_got_relocation_is_an_unknown_rela_relocation(tmp_path):
    obj = elf_objects.compile_c(tmp_path, "got", "int shared = 1;\nint get(void) { return shared; }\n",
                                elf_objects.purgatory_cflags("pic", ["-fvisibility=default"]))
    # R_X86_64_GOTPCREL, _GOTPCRELX, _REX_GOTPCRELX in the x86_64 psABI.
    got_types = {9, 41, 42}
    (got_type,) = relocation_types(obj) & got_types
    assert kernel_message(load_path, obj, 0x100000) == f"Unknown rela relocation: {got_type}"


def test_symbol_size_mismatch_is_refused_with_the_kernels_words(tmp_path):
    ro = elf_objects.abi_stub(tmp_path, "REGS_SIZE=128")
    loaded = load_path(ro, 0x100000)
    assert kernel_message(loaded.set_symbol, "entry64_regs", bytes(136)) == \
        "symbol entry64_regs size mismatch: expected 136 actual 128"


def test_symbol_in_bss_cannot_be_set_or_read(tmp_path):
    ro = elf_objects.abi_stub(tmp_path, "REGIONS_IN_BSS")
    loaded = load_path(ro, 0x100000)
    assert kernel_message(loaded.set_symbol, "purgatory_sha_regions", bytes(256)) == \
        "symbol purgatory_sha_regions is in a bss section. Cannot set"
    with pytest.raises(loader.LoadError, match="Cannot get"):
        loaded.get_symbol("purgatory_sha_regions", 256)


def test_set_and_get_symbol_change_the_image_in_place(tmp_path):
    ro = elf_objects.abi_stub(tmp_path)
    loaded = load_path(ro, 0x100000)
    loaded.set_symbol("purgatory_sha256_digest", bytes(range(32)))
    assert loaded.get_symbol("purgatory_sha256_digest", 32) == bytes(range(32))
    offset = loaded.symbol_address("purgatory_sha256_digest") - loaded.address
    assert loaded.image[offset:offset + 32] == bytes(range(32))


TWO_EXECUTABLE_SECTIONS = """\
	.text
	.globl helper
helper:
	nop
	ret
	.section .text.hot, "ax", @progbits
	.globl purgatory_start
purgatory_start:
	ret
"""


def test_entry_is_purgatory_start_where_e_entry_is_ambiguous(tmp_path):
    obj = elf_objects.assemble_text(tmp_path, "hot", TWO_EXECUTABLE_SECTIONS)
    ro = elf_objects.link_relocatable(tmp_path, [obj])
    hot = load_path(ro, 0x100000)
    hot_text = next(s for s in hot.sections.values() if s.name == ".text.hot")
    assert (hot.entry, hot.entry_source) == (hot_text.address, "purgatory_start")
    # Older kernels took the first executable section containing e_entry (0):
    # .text, not where purgatory_start is.
    old = load_path(ro, 0x100000, abi.x86_64.ENTRY_FROM_E_ENTRY)
    text = next(s for s in old.sections.values() if s.name == ".text")
    assert (old.entry, old.entry_source) == (text.address, "e_entry in .text")


def test_only_global_symbols_count_so_a_weak_purgatory_start_falls_back_to_e_entry(tmp_path):
    obj = elf_objects.assemble_text(tmp_path, "weak", TWO_EXECUTABLE_SECTIONS.replace(
        ".globl purgatory_start", ".weak purgatory_start"))
    ro = elf_objects.link_relocatable(tmp_path, [obj])
    loaded = load_path(ro, 0x100000)
    assert loaded.entry_source == "e_entry in .text"
    with pytest.raises(UserError, match="symbol purgatory_start not found"):
        loaded.find_symbol("purgatory_start")


def test_purgatory_start_outside_an_executable_section_is_ignored_for_e_entry(tmp_path):
    """The kernel takes purgatory_start only inside a loaded executable
    section; here e_entry (0) lies in .text, where it enters instead."""
    obj = elf_objects.assemble_text(tmp_path, "data", """\
	.text
	ret
	.data
	.globl	purgatory_start
purgatory_start:
	.quad	0
""")
    ro = elf_objects.link_relocatable(tmp_path, [obj])
    loaded = load_path(ro, 0x100000)
    text = next(s for s in loaded.sections.values() if s.name == ".text")
    assert (loaded.entry, loaded.entry_source) == (text.address, "e_entry in .text")


def test_load_command_writes_intel_hex_that_reads_back_as_the_image(tmp_path, purgatory_ro):
    out = tmp_path / "purgatory.hex"
    result = kexec_purgatory_cli("load", purgatory_ro, "--addr", "0x5000", "-o", out)
    assert result.returncode == 0, result.stderr
    loaded = load_path(purgatory_ro, 0x5000)
    hex_image = IntelHex(str(out))
    assert hex_image.minaddr() == 0x5000
    assert hex_image.maxaddr() == loaded.end - 1
    assert hex_image.tobinstr() == bytes(loaded.image)


def test_load_command_refuses_intel_hex_above_4_gib_and_writes_nothing(tmp_path, purgatory_ro):
    out = tmp_path / "purgatory.hex"
    result = kexec_purgatory_cli("load", purgatory_ro, "--addr", "4G", "-o", out)
    assert result.returncode == 2
    assert "Intel HEX cannot hold addresses above 4 GiB" in result.stderr
    assert not out.exists()
    raw = tmp_path / "purgatory.bin"
    assert kexec_purgatory_cli("load", purgatory_ro, "--addr", "4G", "-o", raw).returncode == 0
    assert raw.read_bytes() == bytes(load_path(purgatory_ro, 1 << 32).image)


def test_loader_error_is_one_line_naming_the_file_and_leaves_no_output(tmp_path):
    obj = elf_objects.compile_c(tmp_path, "wipe", "void f(void);\nvoid g(void) { f(); }\n",
                                elf_objects.purgatory_cflags())
    out = tmp_path / "out.hex"
    result = kexec_purgatory_cli("load", obj, "--addr", "0x5000", "-o", out)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"kexec-purgatory: error: {obj}: Undefined symbol: f (relocation 0 "
        f"of .rela.text, at .text+0x1)"]
    assert not out.exists()


def test_absolute_32_bit_relocation_of_an_abs_symbol_loads_above_4_gib(tmp_path):
    user = elf_objects.assemble_text(tmp_path, "user", """\
	.text
	.globl	purgatory_start
purgatory_start:
	movl	$CONSTANT, %eax
	ret
""")
    values = elf_objects.assemble_text(tmp_path, "values",
                                       "\t.globl\tCONSTANT\n\t.set\tCONSTANT, 0x1234\n")
    ro = elf_objects.link_relocatable(tmp_path, [user, values])
    assert relocation_types(ro) == {10}
    image = load_path(ro, 8 << 30).image
    assert struct.unpack_from("<I", image, 1) == (0x1234,)
