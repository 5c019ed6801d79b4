# SPDX-License-Identifier: GPL-2.0-only
"""s390x: the checker and the loader judge a purgatory as Linux 6.12's s390
kexec_file loader does (abi/s390x.py): Kbuild's own purgatory passes and
loads anywhere, relocated as binutils would; broken objects made with the
real cross compiler, or one-byte patches of Kbuild's, are refused with the
culprit named."""

import subprocess

import pytest
from elftools.elf.elffile import ELFFile

import s390x_objects
from kexec_purgatory import abi
from kexec_purgatory.abi import s390x
from kexec_purgatory.check import check_elf, check_file, exit_status, instructions
from kexec_purgatory.elf import loader
from kexec_purgatory.errors import UserError

TREE = "6.12-s390x"
# The lowest address the s390 loader uses, one in the middle, one high.
ADDRESSES = (s390x.MIN_LOAD_ADDRESS, 0x7fff0000, 1 << 45)

needs_cross = pytest.mark.skipif(not s390x_objects.available(),
                                 reason="s390x-linux-gnu-gcc-12/ld not installed")


@pytest.fixture(scope="module")
def kbuild_purgatory(kernel_trees):
    """Kbuild's purgatory.ro of Linux 6.12 for s390x."""
    return kernel_trees.prepared(TREE).kbuild_purgatory_dir / "purgatory.ro"


def errors(findings):
    return [f for f in findings if f.severity == "error"]


# -- The relocation formulas (arch/s390/kernel/machine_kexec_reloc.c) -------

def apply(name, old, value, place):
    rtype = next(r for r in s390x.RELOCATIONS.values() if r.name == name)
    image = bytearray(old)
    assert rtype.apply(image, 0, value, place) is True
    return bytes(image)


def test_every_type_has_its_number_and_name():
    assert abi.for_machine("EM_S390") is s390x
    for number, rtype in s390x.RELOCATIONS.items():
        assert s390x.relocation_name(number) == rtype.name
    assert s390x.relocation_name(26) == "R_390_GOTENT"
    assert s390x.relocation_name(57) == "R_390_20"
    assert "EM_S390" not in abi.NOT_YET


def test_direct_types_store_big_endian_low_bits():
    assert apply("R_390_8", b"\xaa", 0x1234, 0) == b"\x34"
    assert apply("R_390_16", b"\0\0", 0x12345678, 0) == b"\x56\x78"
    assert apply("R_390_32", bytes(4), 0x1_2345_6789, 0) == bytes.fromhex("23456789")
    for name in ("R_390_64", "R_390_GLOB_DAT", "R_390_JMP_SLOT", "R_390_RELATIVE"):
        assert apply(name, bytes(8), 0x0123456789abcdef, 0) == bytes.fromhex("0123456789abcdef")


def test_12_bit_field_keeps_the_base_register_nibble():
    # *(u16 *)loc &= 0xf000; *(u16 *)loc |= val & 0xfff
    assert apply("R_390_12", b"\xd5\x55", 0x1abc, 0) == bytes.fromhex("dabc")


def test_20_bit_field_is_split_into_dl_and_dh():
    # RXY: B2 | DL2 (12 bits) | DH2 (8 bits) | opcode; *(u32 *)loc &= 0xf00000ff
    old = bytes.fromhex("d5555504")        # B2 = d, opcode byte 04
    assert apply("R_390_20", old, 0x12345, 0) == bytes.fromhex("d3451204")
    assert apply("R_390_20", old, 0, 0) == bytes.fromhex("d0000004")


def test_pc_relative_types_subtract_the_place_and_dbl_ones_halve():
    assert apply("R_390_PC16", bytes(2), 0x1010, 0x1000) == b"\x00\x10"
    assert apply("R_390_PC16DBL", bytes(2), 0x1010, 0x1000) == b"\x00\x08"
    assert apply("R_390_PC32", bytes(4), 0x1000, 0x1010) == bytes.fromhex("fffffff0")
    assert apply("R_390_PC32DBL", bytes(4), 0x1000, 0x1010) == bytes.fromhex("fffffff8")
    assert apply("R_390_PC64", bytes(8), 0x1000, 0x1010) == bytes.fromhex("fffffffffffffff0")
    # machine_kexec_file.c: R_390_PLT32DBL is applied as R_390_PC32DBL.
    assert apply("R_390_PLT32DBL", bytes(4), 0x2000, 0x1000) == \
        apply("R_390_PC32DBL", bytes(4), 0x2000, 0x1000)


def test_the_kernel_checks_no_overflow_so_nothing_is_refused():
    for rtype in s390x.RELOCATIONS.values():
        assert rtype.fits(1 << 63) and rtype.fits(0)
    # A 32-bit absolute value above 4 GiB is truncated, not refused...
    assert apply("R_390_32", bytes(4), 0x1_0000_0010, 0) == bytes.fromhex("00000010")
    # ...which is why only types right at every address are "anywhere".
    narrow = {r.name for r in s390x.RELOCATIONS.values() if not r.anywhere}
    assert narrow == {"R_390_8", "R_390_12", "R_390_16", "R_390_20", "R_390_32"}


# -- Kbuild's purgatory ------------------------------------------------------

def test_kbuild_purgatory_passes_check(kbuild_purgatory):
    findings = check_file(str(kbuild_purgatory))
    assert errors(findings) == [], [f.text() for f in findings]
    assert exit_status(findings) == 0


def test_kbuild_purgatory_has_every_symbol_at_its_kernel_size(kbuild_purgatory):
    loaded = loader.load_file(str(kbuild_purgatory), s390x.MIN_LOAD_ADDRESS)
    for name, size in s390x.SYMBOLS.items():
        sym = loaded.find_symbol(name)
        if size is not None:
            assert sym["st_size"] == size, name


def relocations(path):
    """(section name, r_offset, type, symbol, addend) of every applied RELA."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        result = []
        for sec in elf.iter_sections():
            if sec["sh_type"] != "SHT_RELA":
                continue
            target = elf.get_section(sec["sh_info"])
            if not target["sh_flags"] & 2:      # SHF_ALLOC
                continue
            symtab = elf.get_section(sec["sh_link"])
            for rel in sec.iter_relocations():
                sym = symtab.get_symbol(rel["r_info_sym"])
                result.append((target.name, rel["r_offset"], rel["r_info_type"],
                               sym["st_shndx"], sym["st_value"], rel["r_addend"]))
        return result


@pytest.mark.parametrize("address", ADDRESSES, ids=hex)
def test_kbuild_purgatory_loads_as_the_kernels_formulas_give(kbuild_purgatory, address):
    """Every PC32DBL/PLT32DBL site holds (S + A - P) >> 1 and every R_390_64
    S + A, computed here by hand from the sections' places; the brasl to
    verify_sha256_digest in head.S lands on it."""
    loaded = loader.load_file(str(kbuild_purgatory), address)
    assert loaded.entry == loaded.symbol_address("purgatory_start")
    assert loaded.entry_source == "purgatory_start"
    by_name = {p.name: p for p in loaded.sections.values()}
    seen = set()
    for section, offset, rtype, shndx, value, addend in relocations(kbuild_purgatory):
        target = by_name[section]
        place = target.address + offset
        s_plus_a = (loaded.sections[shndx].address + value + addend) % (1 << 64)
        at = target.offset + offset
        if rtype in (19, 20):                   # PC32DBL, PLT32DBL
            field = int.from_bytes(loaded.image[at:at + 4], "big", signed=True)
            assert (s_plus_a - place) % 2 == 0
            assert place + 2 * field == s_plus_a
        elif rtype == 22:                       # R_390_64
            assert int.from_bytes(loaded.image[at:at + 8], "big") == s_plus_a
        seen.add(rtype)
    assert {19, 20, 22} <= seen
    # head.S: "brasl %r14,verify_sha256_digest" (c0 e5 + halfwords).
    text = by_name[".text"]
    image = loaded.image[text.offset:text.offset + text.size]
    at = image.index(bytes.fromhex("c0e5"))
    field = int.from_bytes(image[at + 2:at + 6], "big", signed=True)
    assert text.address + at + 2 * field == loaded.symbol_address("verify_sha256_digest")


@needs_cross
@pytest.mark.parametrize("address", ADDRESSES, ids=hex)
def test_kbuild_purgatory_loads_as_binutils_links_it(kbuild_purgatory, tmp_path, address):
    """An independent relocator: s390x-linux-gnu-ld linking purgatory.ro
    with every section where the kernel put it gives the same bytes."""
    loaded = loader.load_file(str(kbuild_purgatory), address)
    placed = [p for p in loaded.sections.values() if p.size and not p.nobits]
    linked = tmp_path / "linked"
    subprocess.run([s390x_objects.LD, "-nostdlib", "-static", "-e", "purgatory_start",
                    "-o", str(linked), str(kbuild_purgatory),
                    *(f"--section-start={p.name}={p.address:#x}" for p in placed)],
                   check=True, capture_output=True)
    with open(linked, "rb") as f:
        elf = ELFFile(f)
        for p in placed:
            section = elf.get_section_by_name(p.name)
            assert section["sh_addr"] == p.address, p.name
            assert section.data() == bytes(loaded.image[p.offset:p.offset + p.size]), p.name


def test_below_the_lowest_address_the_kernel_uses_is_refused(kbuild_purgatory):
    with pytest.raises(UserError, match="below 0x11000"):
        loader.load_file(str(kbuild_purgatory), 0x10000)


# -- Broken objects ----------------------------------------------------------

def retyped(path, new_type, section=".rela.text", index=0):
    """Kbuild's object with one relocation's type byte changed (r_info is
    big-endian: its last byte is the low byte of the type)."""
    data = bytearray(path.read_bytes())
    with open(path, "rb") as f:
        elf = ELFFile(f)
        sec = elf.get_section_by_name(section)
        at = sec["sh_offset"] + index * sec["sh_entsize"] + 15
        offset = next(sec.iter_relocations())["r_offset"] if index == 0 else None
        target = elf.get_section(sec["sh_info"]).name
    data[at] = new_type
    return bytes(data), target, offset


def test_a_relocation_type_the_loader_refuses_is_named(kbuild_purgatory):
    # R_390_GOTENT (26): what -fPIC code uses for a global; the kernel
    # builds no GOT and arch_kexec_do_relocs() does not know it.
    data, section, offset = retyped(kbuild_purgatory, 26)
    findings = [f for f in check_elf(data, "retyped.ro") if f.rule == "reloc-type"]
    assert findings, "no reloc-type finding"
    assert findings[0].relocation == "R_390_GOTENT"
    assert findings[0].section == section and findings[0].offset == offset
    assert findings[0].symbol == "verify_sha256_digest"
    with pytest.raises(loader.LoadError, match="Unknown rela relocation: 26"):
        loader.load(data, "retyped.ro", s390x.MIN_LOAD_ADDRESS)


def test_a_narrow_absolute_relocation_is_refused_as_address_dependent(kbuild_purgatory):
    # R_390_32 (4) on a PC32DBL site: truncated silently wherever the
    # purgatory lies above 4 GiB, so the checker refuses it.
    data, _, offset = retyped(kbuild_purgatory, 4)
    findings = [f for f in check_elf(data, "abs32.ro") if f.rule == "reloc-type"]
    assert [(f.relocation, f.offset) for f in findings] == [("R_390_32", offset)]
    assert "depends on the load address" in findings[0].message


@needs_cross
def test_a_symbol_of_the_wrong_size_is_named(tmp_path):
    path = s390x_objects.stub_purgatory(tmp_path, sizes={"kernel_entry": 4})
    findings = [f for f in check_file(str(path)) if f.rule == "abi-symbol"]
    assert [f.symbol for f in findings] == ["kernel_entry"]
    assert "size 4" in findings[0].message and "exactly 8" in findings[0].message
    loaded = loader.load_file(str(path), s390x.MIN_LOAD_ADDRESS)
    with pytest.raises(loader.LoadError, match="kernel_entry size mismatch: expected 8 actual 4"):
        loaded.set_symbol("kernel_entry", s390x.STARTUP_NORMAL_OFFSET.to_bytes(8, "big"))


@needs_cross
def test_a_missing_required_symbol_is_named(tmp_path):
    path = s390x_objects.stub_purgatory(tmp_path, omit=("crash_size",))
    findings = [f for f in check_file(str(path)) if f.rule == "abi-symbol"]
    assert [f.symbol for f in findings] == ["crash_size"]
    assert "required symbol 'crash_size' is missing" in findings[0].message


@needs_cross
def test_the_stub_passes_every_rule(tmp_path):
    path = s390x_objects.stub_purgatory(tmp_path)
    found = [(f.rule, f.severity) for f in check_file(str(path))]
    # capstone 4 (Debian 12's) says what it could not look for.
    blind = instructions.CAPSTONE_MAJOR < 5
    assert found == ([("unchecked-instructions", "warning")] if blind else [])


DOUBLE_CODE = """
double scale(double x, long n) { return x * n + 1.5; }
long use(long n) { return (long)scale(2.0, n); }
"""

VECTOR_CODE = """
void add(unsigned int *restrict a, const unsigned int *restrict b, int n)
{
	for (int i = 0; i < n; i++)
		a[i] += b[i];
}
"""


@needs_cross
def test_floating_point_from_hard_float_is_named(tmp_path):
    flags = [f for f in s390x_objects.PURGATORY_CFLAGS if f != "-msoft-float"]
    path = s390x_objects.stub_purgatory(tmp_path, DOUBLE_CODE, flags + ["-mhard-float"],
                                        call="use")
    findings = [f for f in check_file(str(path)) if f.rule == "fpu-simd"]
    assert findings, "no fpu-simd finding"
    assert {f.symbol for f in findings} == {"scale", "use"}
    assert all(f.message.startswith("floating point instruction") for f in findings)
    assert "-msoft-float" in findings[0].message
    # The same code with the purgatory's -msoft-float passes.
    soft = s390x_objects.stub_purgatory(tmp_path, DOUBLE_CODE, call="use")
    assert [f for f in check_file(str(soft)) if f.rule == "fpu-simd"] == []


@needs_cross
def test_vector_code_from_z13_is_named(tmp_path):
    # gcc refuses -mvx with -msoft-float: the purgatory's flag alone
    # excludes vector code; without it -march=z13 -O3 vectorises the loop.
    flags = [f for f in s390x_objects.PURGATORY_CFLAGS if f != "-msoft-float"]
    flags += ["-O3", "-march=z13", "-mvx"]
    path = s390x_objects.stub_purgatory(tmp_path, VECTOR_CODE, flags, call="add")
    found = check_file(str(path))
    if instructions.CAPSTONE_MAJOR < 5:
        # Debian 12's capstone 4 decodes no vector instruction: said so.
        (blind,) = [f for f in found if f.rule == "unchecked-instructions"]
        assert blind.severity == "warning" and "vector facility" in blind.message
        return
    findings = [f for f in found if f.rule == "fpu-simd"]
    assert any(f.message.startswith("vector instruction") and f.symbol == "add"
               for f in findings), [f.text() for f in findings]
    assert not [f for f in found if f.rule == "unchecked-instructions"]
