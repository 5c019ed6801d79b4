# SPDX-License-Identifier: GPL-2.0-only
"""The fpu-simd rule classifies instructions by capstone's groups and registers.

Each case adds one instruction to the minimal purgatory's entry code. Those
that need x87, MMX, SSE, AVX or AVX-512 state must be refused with their
address and text; general-register instructions that merely sit in an SSE
or BMI group (fences, crc32, popcnt, shlx...) must pass.
"""

import pytest

import mini_purgatory
from kexec_purgatory.check import check_file

MARK = "\t/* EXTRA INSTRUCTIONS */\n"

REFUSED = {
    "fld1": "x87", "fninit": "x87", "fwait": "x87", "emms": "MMX",
    "movq %mm0, %rax": "MMX", "pxor %xmm0, %xmm0": "SSE",
    "cvtsi2sd %rax, %xmm0": "SSE", "ldmxcsr (%rsp)": "SSE",
    "movq %xmm0, %rax": "SSE", "fxsave (%rsp)": "x87/SSE state",
    "xsave (%rsp)": "x87/SSE state", "vmovdqa %ymm0, %ymm1": "AVX",
    "vzeroupper": "AVX", "vpxor %xmm0, %xmm1, %xmm2": "AVX",
    "vpaddd %zmm0, %zmm1, %zmm2": "AVX-512", "kmovw %k1, %eax": "AVX-512",
}
ALLOWED = ["mfence", "lfence", "sfence", "pause", "crc32q %rax, %rbx",
           "popcnt %rax, %rbx", "shlx %rax, %rbx, %rcx", "movnti %rax, (%rsp)",
           "prefetcht0 (%rsp)", "clflush (%rsp)", "movbe (%rsp), %rax",
           "movzbl (%rsp), %eax", "cmovne %rax, %rbx"]


def build_with(tmp_path, line):
    return mini_purgatory.build(tmp_path, asm_edits=[(MARK, f"\t{line}\n")])


@pytest.mark.parametrize("line", sorted(REFUSED))
def test_fpu_or_simd_instruction_is_refused_with_address_and_text(tmp_path, line):
    findings = check_file(str(build_with(tmp_path, line)))
    assert [f.rule for f in findings] == ["fpu-simd"]
    finding = findings[0]
    assert finding.message.startswith(f"{REFUSED[line]} instruction ")
    assert finding.symbol == "purgatory_start"
    assert finding.section == ".text"
    # entry64 (0x11 bytes) then the 7-byte leaq precede the added line.
    assert finding.offset == 0x18
    assert f"'{finding.instruction}' at .text+0x18" in finding.message


@pytest.mark.parametrize("line", ALLOWED)
def test_general_register_instruction_passes(tmp_path, line):
    assert check_file(str(build_with(tmp_path, line))) == []


def test_data_object_in_text_is_not_disassembled(tmp_path):
    data = ("\tjmp 2f\n\t.type gdt_like, @object\ngdt_like:\n"
            "\t.byte 0xd9, 0xe8, 0x0f, 0x77\n\t.size gdt_like, 4\n2:\n")
    assert check_file(str(build_with(tmp_path, data))) == []


def test_undecodable_bytes_do_not_hide_later_instructions(tmp_path):
    line = "jmp 2f\n\t.byte 0x06\n2:\tfld1"   # 0x06 is invalid in 64-bit mode
    findings = check_file(str(build_with(tmp_path, line)))
    assert [f.instruction for f in findings] == ["fld1"]
