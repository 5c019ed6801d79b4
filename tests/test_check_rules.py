# SPDX-License-Identifier: GPL-2.0-only
"""Each checker rule refuses the real-life defect it exists for.

Every fixture is the minimal purgatory with one change: the compiler flag,
source line or link option that broke a real purgatory (see the facts file),
or one header field where no toolchain produces the defect. Each must give a
finding with the rule's id and a message naming the culprit; the unchanged
object, built for either code model, must give none.
"""

import subprocess

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_RELOC_TYPE_x64

import elf_objects
import mini_purgatory
import riscv_objects
from kexec_purgatory import abi as contracts
from kexec_purgatory.check import RULES, check_file, exit_status, instructions

PIC_FLAGS = mini_purgatory.CODE_MODEL_CFLAGS["pic"]
AFTER_FOLD = "static unsigned char fold[32];"


def add_c_line(line):
    return [(AFTER_FOLD, f"{AFTER_FOLD}\n{line}")]


def patched(section, **fields):
    def patch(path):
        mini_purgatory.patch_section(path, section, **fields)
    return patch


def machine(number):
    """Set e_machine (a kernel with a purgatory, whose contract differs)."""
    def patch(path):
        data = bytearray(path.read_bytes())
        data[18:20] = number.to_bytes(2, "little")
        path.write_bytes(bytes(data))
    return patch


def riscv_lo12_apart(path):
    """Replace the object with riscv64's minimal purgatory, a nop between
    its auipc and the addi of the PCREL_LO12_I."""
    broken = riscv_objects.minimal(path.parent, between="nop\n\t", name="rv.ro")
    path.write_bytes(broken.read_bytes())


def riscv_minimal(path):
    """Replace the object with riscv64's minimal purgatory."""
    path.write_bytes(riscv_objects.minimal(path.parent, name="rv.ro").read_bytes())


def stripped(path):
    subprocess.run(["strip", "--strip-all", str(path)], check=True)


# name: (build arguments, post-build step, rule id, culprit fields, message part)
FIXTURES = {
    "stack-protector-all": (
        dict(drop=["-fno-stack-protector"], add=["-fstack-protector-all"]), None,
        "undefined-symbol", {"symbol": "__stack_chk_fail"}, "-fno-stack-protector"),
    "pg-mcount": (
        dict(add=["-pg"]), None,
        "undefined-symbol", {"symbol": "mcount"}, "-pg"),
    "pg-mfentry": (
        dict(add=["-pg", "-mfentry"]), None,
        "undefined-symbol", {"symbol": "__fentry__"}, "-pg"),
    "mcmodel-kernel": (
        dict(drop=PIC_FLAGS, add=["-fno-pic", "-mcmodel=kernel"]), None,
        "reloc-type", {"relocation": "R_X86_64_32S", "section": ".text"},
        "above 2 GiB"),
    "pic-without-hidden-visibility": (
        dict(drop=["-fvisibility=hidden"],
             c_edits=[("#pragma GCC visibility push(hidden)\n", "")]), None,
        "reloc-type", {"relocation": "R_X86_64_REX_GOTPCRELX",
                       "symbol": "purgatory_sha_regions"}, "GOT"),
    "function-sections": (
        dict(add=["-ffunction-sections"]), None,
        "exec-sections", {"section": ".text.verify_digest"}, ".text.verify_digest"),
    "fcommon-tentative-definition": (
        dict(drop=["-fno-common"], add=["-fcommon"],
             c_edits=add_c_line("int tentative;")), None,
        "common-symbol", {"symbol": "tentative"}, "-fno-common"),
    "abi-symbol-in-bss": (
        dict(drop=["-fno-zero-initialized-in-bss"]), None,
        "abi-symbol", {"symbol": "purgatory_sha256_digest", "section": ".bss"},
        "bss"),
    "abi-symbol-wrong-size": (
        dict(c_edits=[("purgatory_sha_regions[16]", "purgatory_sha_regions[15]")]),
        None, "abi-symbol", {"symbol": "purgatory_sha_regions"}, "size 240"),
    "abi-symbol-missing": (
        dict(c_edits=[("entry64_regs[", "entry64_registers[")],
             asm_edits=[("entry64_regs", "entry64_registers")]), None,
        "abi-symbol", {"symbol": "entry64_regs"}, "missing"),
    "cf-protection-full": (
        dict(drop=["-fcf-protection=none"], add=["-fcf-protection=full"]), None,
        "loaded-note", {"section": ".note.gnu.property"}, ".note.gnu.property"),
    "sse-from-O3-tree-vectorize": (
        dict(drop=["-mgeneral-regs-only"], add=["-O3", "-ftree-vectorize"]), None,
        "fpu-simd", {"symbol": "verify_digest", "section": ".text"}, "SSE"),
    "avx-from-march-x86-64-v3": (
        dict(drop=["-mgeneral-regs-only"], add=["-march=x86-64-v3"]), None,
        "fpu-simd", {"symbol": "verify_digest", "section": ".text"}, "AVX"),
    "stripped-symtab": (
        {}, stripped, "symtab", {}, "stripped"),
    "m32-object": (
        dict(drop=["-mcmodel=small"], add=["-m32"], asm=False,
             ld_prefix=["-m", "elf_i386"]), None,
        "elf-header", {}, "ELFCLASS32"),
    "rel-relocation-section": (
        {}, patched(section=".rela.text", sh_type=9, sh_entsize=16),
        "rel-section", {"section": ".rela.text"}, "SHT_REL"),
    "linked-without-e-purgatory-start": (
        dict(link=["ld", "-r", "-z", "nodefaultlib"]), None,
        "entry", {"symbol": "purgatory_start", "section": ".text"},
        "-e purgatory_start"),
    "purgatory-start-in-second-executable-section": (
        dict(asm_edits=[("\t.globl\tpurgatory_start\n",
                         "\t.section .text.entry, \"ax\", @progbits\n"
                         "\t.globl\tpurgatory_start\n")]), None,
        "entry", {"symbol": "purgatory_start", "section": ".text.entry"},
        "would start at .text+0x0"),
    "purgatory-start-in-data": (
        dict(asm_edits=[("\t.globl\tpurgatory_start\n",
                         "\t.data\n\t.globl\tpurgatory_start\n")]), None,
        "entry", {"symbol": "purgatory_start", "section": ".data"}, ".data"),
    "memzero-explicit-from-generic-sha256": (
        dict(c_edits=add_c_line("void memzero_explicit(void *s, unsigned long n);")
             + [("\treturn diff ||", "\tmemzero_explicit(fold, 32);\n\treturn diff ||")]),
        None, "undefined-symbol", {"symbol": "memzero_explicit"}, "2019"),
    "none-relocation-against-the-null-symbol": (
        dict(asm_edits=[("\t/* EXTRA INSTRUCTIONS */\n",
                         "\t.reloc\t., R_X86_64_NONE\n")]), None,
        "undefined-symbol", {"symbol": "", "section": ".text"}, "index 0"),
    "alignment-not-power-of-two": (
        {}, patched(section=".data", sh_addralign=24),
        "section-alignment", {"section": ".data"}, "24"),
    "alignment-zero": (
        {}, patched(section=".data", sh_addralign=0),
        "section-alignment", {"section": ".data"}, "offset 0"),
    "writable-executable-section": (
        dict(asm_edits=[("\t.data\n\t.balign\t8\n",
                         "\t.section .data.wx, \"awx\", @progbits\n\t.balign\t8\n")]),
        None, "writable-exec", {"section": ".data.wx"}, ".data.wx"),
    "over-size-budget": (
        dict(c_edits=add_c_line("unsigned char padding[70000] = { 1 };")), None,
        "size-budget", {}, "65536"),
    "debug-info-from-g": (
        dict(drop=["-g0"], add=["-g"]), None,
        "dead-weight", {"section": ".debug_aranges"}, "-g0"),
    # EM_PPC (20) stands for a machine whose contract is not here yet
    # (the test puts it in NOT_YET, whatever the real list holds today).
    "machine-not-done-yet": (
        dict(), machine(20),
        "unchecked-machine", {}, "only the ELF header was checked"),
    "riscv-pcrel-lo12-apart-from-its-hi20": (
        dict(), riscv_lo12_apart,
        "reloc-pair", {"relocation": "R_RISCV_PCREL_HI20", "section": ".text"},
        "no R_RISCV_PCREL_LO12_I is there"),
    # riscv64's minimal purgatory where this capstone cannot decode part of
    # riscv64 (the test declares a blind spot for its major version; Debian
    # 12's capstone 4 has no RISC-V at all).
    "riscv-instructions-capstone-cannot-decode": (
        dict(), riscv_minimal,
        "unchecked-instructions", {}, "capstone"),
    # A section declared in assembly without the "a" flag (GNU as gives
    # an unknown section name no flags): the kernel never loads it, and
    # resolves the relocation against entry64_regs to 0 + its value.
    "section-without-alloc-flag": (
        dict(asm_edits=[("\t.data\n\t.balign\t8\n", "\t.section .regs, \"w\"\n"
                                                     "\t.balign\t8\n")]), None,
        "unloaded-section", {"symbol": "entry64_regs", "section": ".text"},
        "does not load"),
    "relocated-section-turned-nobits": (
        {}, patched(section=".text", sh_type=8),
        "nobits-relocation", {"section": ".text"}, "NOBITS"),
    "unwind-tables": (
        dict(drop=["-fno-asynchronous-unwind-tables"]), None,
        "dead-weight", {"section": ".eh_frame"}, ".eh_frame"),
}


@pytest.mark.parametrize("code_model", ["pic", "large"])
def test_mini_purgatory_passes_every_rule(tmp_path, code_model):
    path = mini_purgatory.build(tmp_path, code_model=code_model)
    assert [f.text() for f in check_file(str(path))] == []


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_defect_is_refused_with_rule_id_and_culprit(tmp_path, monkeypatch, name):
    kwargs, post, rule, culprit, words = FIXTURES[name]
    monkeypatch.setitem(contracts.NOT_YET, "EM_PPC", "ppc32")
    monkeypatch.setattr(contracts.riscv64, "CAPSTONE_BLIND_SPOTS",
                        {instructions.CAPSTONE_MAJOR: "the test's blind spot"},
                        raising=False)
    path = mini_purgatory.build(tmp_path, **kwargs)
    if post:
        post(path)
    findings = [f for f in check_file(str(path)) if f.rule == rule]
    assert findings, f"{name}: no {rule} finding"
    matching = [f for f in findings
                if all(getattr(f, k) == v for k, v in culprit.items())]
    assert matching, f"{name}: {[f.text() for f in findings]}"
    finding = matching[0]
    assert words in finding.message
    for value in culprit.values():
        assert value in finding.message
    assert finding.text().startswith(f"{path}: {finding.severity}: {rule}: ")


def test_every_rule_has_a_failing_fixture():
    # simd-dispatch applies to this tree's own purgatory (--simd
    # dispatched): its fixtures break that purgatory, not the minimal one.
    from test_check_simd_dispatch import RULES_COVERED
    covered = {fixture[2] for fixture in FIXTURES.values()} | RULES_COVERED
    assert covered == {rule.id for rule in RULES}


def test_warnings_fail_only_under_strict(tmp_path):
    kwargs = FIXTURES["over-size-budget"][0]
    findings = check_file(str(mini_purgatory.build(tmp_path, **kwargs)))
    assert {f.severity for f in findings} == {"warning"}
    assert exit_status(findings) == 0
    assert exit_status(findings, strict=True) == 1


def test_kernel_abi_rules_apply_only_with_abi_kernel(tmp_path):
    kwargs = FIXTURES["abi-symbol-missing"][0]
    path = str(mini_purgatory.build(tmp_path, **kwargs))
    assert {f.rule for f in check_file(path, abi="kernel")} == {"abi-symbol"}
    assert check_file(path, abi="none") == []


def test_many_findings_of_one_rule_are_summarised(tmp_path):
    kwargs = FIXTURES["sse-from-O3-tree-vectorize"][0]
    findings = check_file(str(mini_purgatory.build(tmp_path, **kwargs)))
    simd = [f for f in findings if f.rule == "fpu-simd"]
    assert simd[-1].message.endswith("more findings of this rule not shown")
    assert all(f.instruction for f in simd[:-1])


def rules_section_headings(text):
    """The `### `id`` headings under "## Rules", up to the next "## "."""
    headings, inside = set(), False
    for line in text.splitlines():
        if line.startswith("## "):
            inside = line == "## Rules"
        elif inside and line.startswith("### `") and line.endswith("`"):
            headings.add(line[len("### `"):-1])
    return headings


def test_every_rule_is_documented_with_its_id():
    doc = (mini_purgatory.ROOT / "docs" / "checker-rules.md").read_text()
    assert rules_section_headings(doc) == {rule.id for rule in RULES}


def test_relocations_of_unloaded_sections_are_ignored(tmp_path):
    """-g adds R_X86_64_32 relocations to .debug_* sections, which the kernel
    never loads or relocates: only the dead-weight warning may result."""
    path = mini_purgatory.build(tmp_path, drop=["-g0"], add=["-g"])
    with open(path, "rb") as f:
        debug_types = {rel["r_info_type"]
                       for sec in ELFFile(f).iter_sections()
                       if sec.name.startswith(".rela.debug")
                       for rel in sec.iter_relocations()}
    assert ENUM_RELOC_TYPE_x64["R_X86_64_32"] in debug_types
    assert {f.rule for f in check_file(str(path))} == {"dead-weight"}


ABSOLUTE_CONSTANT = """\
	.text
	.globl	purgatory_start
purgatory_start:
	movl	$CONSTANT, %eax
	movq	$CONSTANT_S, %rax
	ret
"""


@pytest.mark.parametrize("constant, constant_s, culprit", [
    ("0x1234", "-5", None),
    ("0x123456789", "-5", "R_X86_64_32"),
    ("0x1234", "0x80000000", "R_X86_64_32S")])
def test_absolute_32_bit_relocation_of_an_abs_symbol_is_judged_by_its_value(
        tmp_path, constant, constant_s, culprit):
    """S + A of an SHN_ABS symbol is the same at every load address: the
    kernel applies it if it fits and refuses it everywhere if not."""
    user = elf_objects.assemble_text(tmp_path, "user", ABSOLUTE_CONSTANT)
    values = elf_objects.assemble_text(tmp_path, "values", (
        f"\t.globl\tCONSTANT, CONSTANT_S\n"
        f"\t.set\tCONSTANT, {constant}\n\t.set\tCONSTANT_S, {constant_s}\n"))
    path = elf_objects.link_relocatable(tmp_path, [user, values])
    assert relocation_type_names(path) == {"R_X86_64_32", "R_X86_64_32S"}
    findings = [f for f in check_file(str(path), abi="none") if f.rule == "reloc-type"]
    assert [f.relocation for f in findings] == ([culprit] if culprit else [])
    if culprit:
        assert "at every load address" in findings[0].message


def relocation_type_names(path):
    with open(path, "rb") as f:
        names = {number: name for name, number in ENUM_RELOC_TYPE_x64.items()}
        return {names[rel["r_info_type"]] for sec in ELFFile(f).iter_sections()
                if sec.name.startswith(".rela") for rel in sec.iter_relocations()}


@pytest.mark.parametrize("name, rule", [
    ("section-without-alloc-flag", "unloaded-section"),
    ("relocated-section-turned-nobits", "nobits-relocation")])
def test_load_refuses_what_the_checker_reports_in_the_same_words(tmp_path, name, rule):
    """The kernel loads these without a word and gets them wrong; the
    checker and the loader judge them by the same rule (elf/symbols.py)."""
    from kexec_purgatory.elf import loader
    from kexec_purgatory.errors import UserError
    kwargs, post, *_ = FIXTURES[name]
    path = mini_purgatory.build(tmp_path, **kwargs)
    if post:
        post(path)
    finding = next(f for f in check_file(str(path)) if f.rule == rule)
    with pytest.raises(UserError) as refused:
        loader.load_file(str(path), contracts.x86_64.TEST_ADDRESSES[1])
    shared = finding.message.split(" against symbol ")[-1]
    assert shared in str(refused.value)
    assert str(refused.value).startswith(f"{path}: ")
