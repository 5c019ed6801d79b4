# SPDX-License-Identifier: GPL-2.0-only
"""riscv64: the contract of arch/riscv/kernel/machine_kexec_file.c, held to
Kbuild's own 6.12 purgatory, to GNU ld, to hand-checked instruction words,
and to broken objects from the real cross compiler or one-byte patches."""

import subprocess

import pytest
from elftools.elf.elffile import ELFFile

import riscv_objects as rv
from kexec_purgatory import abi
from kexec_purgatory.abi import riscv64
from kexec_purgatory.check import check_file, exit_status, instructions
from kexec_purgatory.elf import loader
from kexec_purgatory.emulate import emulator
from kexec_purgatory.emulate import riscv64 as rv_emulator

# Low: right above a kernel at QEMU virt's 0x80200000; middle: 64 GiB;
# high: the top of RV64's 56-bit physical address space.
ADDRESSES = (0x80400000, 1 << 36, riscv64.PHYSICAL_ADDRESS_LIMIT - (1 << 20))


def errors(path):
    return [f for f in check_file(str(path)) if f.severity == "error"]


def only_finding(path, rule):
    findings = errors(path)
    assert [f.rule for f in findings] == [rule], [f.text() for f in findings]
    return findings[0]


@pytest.fixture(scope="module")
def kbuild(kernel_trees):
    """Kbuild's purgatory.ro of Linux 6.12 for riscv64."""
    return kernel_trees.prepared("6.12-riscv64").kbuild_purgatory_dir / "purgatory.ro"


# --- the module -------------------------------------------------------------

def test_registered_by_e_machine():
    assert abi.for_machine("EM_RISCV") is riscv64
    assert "EM_RISCV" not in abi.NOT_YET


def test_the_loader_knows_exactly_the_kernels_types():
    """The case labels of arch_kexec_apply_relocations_add(), 6.12."""
    assert {r.name for r in riscv64.RELOCATIONS.values()} == {
        "R_RISCV_BRANCH", "R_RISCV_JAL", "R_RISCV_PCREL_HI20",
        "R_RISCV_CALL_PLT", "R_RISCV_CALL", "R_RISCV_RVC_BRANCH",
        "R_RISCV_RVC_JUMP", "R_RISCV_ADD16", "R_RISCV_SUB16",
        "R_RISCV_ADD32", "R_RISCV_SUB32", "R_RISCV_PCREL_LO12_I",
        "R_RISCV_ALIGN", "R_RISCV_RELAX", "R_RISCV_64"}
    for number, rtype in riscv64.RELOCATIONS.items():
        assert riscv64.relocation_name(number) == rtype.name
        assert rtype.fits(0) and rtype.fits(riscv64.U64)    # no check anywhere
    for ignored in ("R_RISCV_ALIGN", "R_RISCV_RELAX", "R_RISCV_PCREL_LO12_I"):
        assert next(r for r in riscv64.RELOCATIONS.values()
                    if r.name == ignored).width == 0
    assert riscv64.relocation_name(20) == "R_RISCV_GOT_HI20"
    assert 0 not in riscv64.RELOCATIONS                    # NONE is unknown too


def test_add_and_sub_wrap_at_their_width():
    add16, sub16 = riscv64.RELOCATIONS[34], riscv64.RELOCATIONS[38]
    image = bytearray(b"\xf0\xff\xaa")
    assert add16.apply(image, 0, 0x10_0020, 0)
    assert image == bytearray(b"\x10\x00\xaa")            # 0xfff0 + 0x20
    assert sub16.apply(image, 0, 0x11, 0)
    assert image == bytearray(b"\xff\xff\xaa")


def test_rvc_jump_keeps_the_rest_of_the_instruction():
    """c.j +0x7fe into c.j +0 (0xa001): imm[11|4|9:8|10|6|7|3:1|5] in bits
    12..2 are 0, then ten ones: 0xa001 | 0xffc (objdump: "j 0x17fe")."""
    cj = riscv64.RELOCATIONS[45]
    assert cj.encode(0x1000 + 0x7fe, 0x1000, old=b"\x01\xa0") == b"\xfd\xaf"


# --- by hand and against GNU ld ------------------------------------------

EVERY_TYPE = """\
	.text
	.globl	purgatory_start
purgatory_start:
	beq	a0, a1, .Lnear
	bnez	a0, far
	jal	far
	call	far
	tail	far
	c.beqz	a0, .Lnear
	c.j	.Lnear
	c.j	far
.Lhi:	auipc	a0, %pcrel_hi(target)
	addi	a0, a0, %pcrel_lo(.Lhi)
.Lhi2:	auipc	a1, %pcrel_hi(target + 0x7ff)
	ld	a1, %pcrel_lo(.Lhi2)(a1)
.Lnear:	ret
	.section .text.far, "ax", @progbits
	.globl	far
far:	ret
	.data
	.balign	8
	.quad	far + 6
	.space	0x1800
target:	.quad	0
	.4byte	.Lnear - purgatory_start
	.2byte	.Lnear - purgatory_start
"""


@pytest.fixture(scope="module")
def every_type(tmp_path_factory):
    directory = tmp_path_factory.mktemp("riscv-every-type")
    return rv.compile_source(directory, "every.S", EVERY_TYPE)


@pytest.mark.parametrize("address", ADDRESSES)
def test_a_pcrel_pair_by_hand(every_type, address):
    """.Lhi is .text+0x28 and target .data+0x1808 with .data at +0x40, so
    auipc reaches 0x1820 ahead: hi 0x2000, lo -0x7e0 (0x820); +0x7ff from
    +0x30: 0x2017, hi 0x2000, lo 0x17. The words, worked out by hand."""
    loaded = loader.load_file(str(every_type), address)
    text = next(s for s in loaded.sections.values() if s.name == ".text")
    data = next(s for s in loaded.sections.values() if s.name == ".data")
    assert (text.offset, data.offset) == (0, 0x40)
    words = [int.from_bytes(loaded.image[o:o + 4], "little")
             for o in (0x28, 0x2c, 0x30, 0x34)]
    assert words == [0x00002517,        # auipc a0, 0x2
                     0x82050513,        # addi  a0, a0, -0x7e0
                     0x00002597,        # auipc a1, 0x2
                     0x0175b583]        # ld    a1, 0x17(a1)


@pytest.mark.parametrize("address", ADDRESSES)
def test_every_type_as_gnu_ld_links_it(every_type, address, tmp_path):
    """ld --no-relax, told to put each section where the kernel does, gives
    the same bytes (no R_RISCV_ALIGN here: ld would delete nops the kernel
    keeps)."""
    loaded = loader.load_file(str(every_type), address)
    placed = sorted((s for s in loaded.sections.values() if s.size),
                    key=lambda s: s.offset)
    script = tmp_path / "at.lds"
    script.write_text("SECTIONS {\n" + "".join(
        f"  {s.name} {s.address:#x} : {{ *({s.name}) }}\n" for s in placed) + "}\n")
    linked = tmp_path / "linked"
    subprocess.run([rv.LD, "--no-relax", "-T", script, "-e", "purgatory_start",
                    "-o", linked, every_type], check=True, capture_output=True)
    with open(linked, "rb") as f:
        elf = ELFFile(f)
        for s in placed:
            assert elf.get_section_by_name(s.name).data() == \
                bytes(loaded.image[s.offset:s.offset + s.size]), s.name


# --- Kbuild's own purgatory -------------------------------------------------

def test_kbuilds_purgatory_passes_check(kbuild):
    assert errors(kbuild) == []


@pytest.mark.parametrize("address", ADDRESSES)
def test_kbuilds_purgatory_loads(kbuild, address):
    loaded = loader.load_file(str(kbuild), address)
    assert loaded.abi is riscv64
    assert loaded.entry == loaded.symbol_address("purgatory_start")
    # entry.S: "ld a2, riscv_kernel_entry" is the auipc/ld at +0x14.
    start = loaded.entry - address + 0x14
    assert address + start + rv.pcrel_target(loaded.image, start) == \
        loaded.symbol_address("riscv_kernel_entry")
    loaded.set_symbol("riscv_kernel_entry", (0x80200000).to_bytes(8, "little"))


# --- broken objects, each refused with its culprit ---------------------------

def test_fpie_got_hi20_is_refused(kbuild, tmp_path):
    pie = rv.compile_source(tmp_path, "pie.c", (
        "extern unsigned long riscv_kernel_entry;\n"
        "unsigned long pie_entry(void) { return riscv_kernel_entry; }\n"),
        ["-fPIE"])
    broken = rv.link_relocatable(tmp_path, [kbuild, pie], "broken.ro")
    finding = only_finding(broken, "reloc-type")
    assert finding.relocation == "R_RISCV_GOT_HI20"
    assert "riscv_kernel_entry" in finding.message
    with pytest.raises(loader.LoadError, match="Unknown rela relocation: 20"):
        loader.load_file(str(broken), ADDRESSES[0])


def test_a_symbol_of_the_wrong_size_is_refused(kbuild, tmp_path):
    broken = rv.with_symbol_size(kbuild, tmp_path / "broken.ro",
                                 "riscv_kernel_entry", 4)
    finding = only_finding(broken, "abi-symbol")
    assert finding.symbol == "riscv_kernel_entry"
    assert "size 4" in finding.message and "exactly 8" in finding.message
    loaded = loader.load_file(str(broken), ADDRESSES[0])
    with pytest.raises(loader.LoadError, match="size mismatch: expected 8 actual 4"):
        loaded.set_symbol("riscv_kernel_entry", bytes(8))


def test_a_missing_riscv_kernel_entry_is_refused(kbuild, tmp_path):
    broken = rv.with_symbol_renamed(kbuild, tmp_path / "broken.ro",
                                    "riscv_kernel_entry", 0, "x")
    finding = only_finding(broken, "abi-symbol")
    assert finding.symbol == "riscv_kernel_entry"
    assert "missing" in finding.message


@pytest.mark.parametrize("march, words", [
    ("rv64imafdc", "D instruction 'fmul.d"),
    ("rv64imafc", "F instruction 'fmul.s"),
])
def test_floating_point_is_refused(kbuild, tmp_path, march, words):
    """-mabi=lp64 keeps the object soft-float (ld -r mixes it with Kbuild's),
    -march with F/D lets gcc use the FPU inside the function."""
    kind = "double" if "d" in march[6:] else "float"
    fp = rv.compile_source(tmp_path, "fp.c", (
        f"{kind} fp_scale({kind} x, {kind} y) {{ return x * y; }}\n"),
        [f"-march={march}"])
    broken = rv.link_relocatable(tmp_path, [kbuild, fp], "broken.ro")
    findings = errors(broken)
    assert {(f.rule, f.symbol) for f in findings} == {("fpu-simd", "fp_scale")}
    assert any(words in f.message for f in findings), [f.message for f in findings]


def test_a_vector_instruction_is_refused(kbuild, tmp_path):
    """capstone 5 does not decode V: the ABI's encodings find it."""
    vec = rv.compile_source(tmp_path, "vec.S", (
        "\t.option arch, +v\n\t.text\n\t.globl vec_copy\nvec_copy:\n"
        "\tvsetvli t0, a2, e8, m8, ta, ma\n\tvle8.v v0, (a1)\n"
        "\tvse8.v v0, (a0)\n\tret\n"))
    broken = rv.link_relocatable(tmp_path, [kbuild, vec], "broken.ro")
    findings = errors(broken)
    assert {f.rule for f in findings} == {"fpu-simd"}
    assert [f.symbol for f in findings] == ["vec_copy"] * 3
    assert all("V instruction" in f.message for f in findings)


def test_a_floating_point_instruction_is_refused_or_said_unchecked_with_capstone_4(tmp_path):
    """capstone 4 (Debian 12's) has no RISC-V: the checker says in one
    warning that no instruction was checked (exit 0, 1 with --strict)
    rather than passing the object as checked; capstone 5 finds it."""
    source = rv.MINIMAL.format(between="").replace(
        "purgatory_start:\n", "purgatory_start:\n\tfmv.d.x\tfa0, a0\n")
    obj = rv.compile_source(tmp_path, "fp.S", source, ["-march=rv64imafdc"])
    fp = rv.link_relocatable(tmp_path, [obj], "fp.ro")
    found = check_file(str(fp))
    if instructions.CAPSTONE_MAJOR < 5:
        assert [(f.rule, f.severity) for f in found] == [
            ("unchecked-instructions", "warning")]
        assert found[0].message.startswith("no instruction checked: capstone 4.")
        assert "riscv64" in found[0].message
        assert (exit_status(found), exit_status(found, strict=True)) == (0, 1)
    else:
        assert [f.rule for f in found] == ["fpu-simd"]
        assert "D instruction 'fmv.d.x" in found[0].message


def test_a_lo12_apart_from_its_hi20_is_refused(tmp_path):
    """The kernel writes the HI20's low bits into the next instruction (a
    nop here) and skips the LO12: it would load this wrong, silently."""
    good = rv.minimal(tmp_path)
    assert errors(good) == []
    broken = rv.minimal(tmp_path, between="nop\n\t", name="broken.ro")
    findings = errors(broken)
    assert [(f.rule, f.relocation) for f in findings] == [
        ("reloc-pair", "R_RISCV_PCREL_HI20"), ("reloc-pair", "R_RISCV_PCREL_LO12_I")]
    assert "no R_RISCV_PCREL_LO12_I is there" in findings[0].message
    loader.load_file(str(broken), ADDRESSES[0])     # the kernel says nothing


def test_the_null_symbol_of_relax_is_not_an_undefined_symbol(tmp_path):
    """ALIGN and RELAX name symbol 0; riscv's loader takes S = 0 for it and
    writes nothing. A real undefined symbol is still refused by the checker
    (the kernel would take it as address 0 without a word)."""
    call = rv.compile_source(tmp_path, "call.c", (
        "void missing(void);\nvoid caller(void) { missing(); }\n"))
    findings = [f for f in check_file(str(call)) if f.rule == "undefined-symbol"]
    assert [f.symbol for f in findings] == ["missing"]
    assert "as 0 without a word" in findings[0].message


# --- run ------------------------------------------------------------------------

@pytest.mark.parametrize("address", ADDRESSES[:2])
def test_kbuilds_purgatory_enters_the_kernel(kbuild, address):
    result = emulator.run(kbuild.read_bytes(), str(kbuild), address=address)
    assert (result.outcome, result.passed) == (emulator.ENTERED, True), result.message
    assert result.registers["pc"] == result.rip
    fdt = next(r for r in result.regions if r["name"] == "fdt")
    assert result.registers["a0"] == rv_emulator.HART_ID
    assert result.registers["a1"] == fdt["start"]
    assert 20 < result.instructions_per_byte < 200


def test_kbuilds_purgatory_refuses_a_flipped_byte(kbuild):
    result = emulator.run(kbuild.read_bytes(), str(kbuild), address=ADDRESSES[0],
                          corruption=("initrd", 0x1234))
    assert (result.outcome, result.passed) == (emulator.REFUSED, True), result.message
    assert "digest mismatch" in result.message


def test_a_floating_point_instruction_traps_in_emulation(tmp_path):
    """FS is Off at entry, as the kernel leaves it."""
    source = rv.MINIMAL.format(between="").replace(
        "purgatory_start:\n", "purgatory_start:\n\tfmv.d.x\tfa0, a0\n")
    obj = rv.compile_source(tmp_path, "fp.S", source, ["-march=rv64imafdc"])
    broken = rv.link_relocatable(tmp_path, [obj], "fp.ro")
    result = emulator.run(broken.read_bytes(), "fp.ro", address=ADDRESSES[0])
    assert result.outcome == emulator.FAULT
    if rv_emulator.TRAP_CAUSES:
        assert "illegal instruction" in result.message
    else:
        # Unicorn 2.0.1 reports the trap as its own error, at the instruction.
        assert result.message.endswith(f"at pc {ADDRESSES[0]:#x}")
