# SPDX-License-Identifier: GPL-2.0-only
"""The checker lets SIMD stand only where this tree dispatches to it.

This tree's purgatory (SHA256=auto) holds SSE code in sha256_blocks_sha_ni,
reached from sha256_blocks after CPUID. With --simd dispatched the checker
accepts exactly that; each fixture below is the real purgatory with one
edit that breaks the proof (another caller, a function pointer, code
falling into the function, a dispatch without CPUID, SSE left off, SIMD in
another function) and must be refused naming the culprit. Without --simd
dispatched (every other purgatory, kernel mode's included) no SIMD passes.
"""

import pytest

import tree_purgatory
from kexec_purgatory.check import DISPATCHED, NONE, check_file

SHA256_C = "purgatory/sha256.c"
SHA_NI = tree_purgatory.SHA_NI
FINAL = "void sha256_final(struct sha256_state *state, u8 digest[SHA256_DIGEST_SIZE])\n{"
NI_LABEL = "sha256_blocks_sha_ni:\n"

# name: (edits, assembler defines, rule, words in the message)
FIXTURES = {
    "sha-ni-called-from-sha256_final": (
        {SHA256_C: [(FINAL + "\n", FINAL + "\n\tsha256_blocks_sha_ni(state->h, state->buf, 1);\n")]},
        (), "simd-dispatch", "(sha256_final+0x"),
    "sha-ni-address-in-data": (
        {SHA256_C: [("u8 purgatory_sha256_path = SHA256_PATH_UNCHOSEN;",
                     "u8 purgatory_sha256_path = SHA256_PATH_UNCHOSEN;\n"
                     "void *sha256_hook = sha256_blocks_sha_ni;")]},
        (), "simd-dispatch", "R_X86_64_64 at .data+"),
    "code-falls-into-sha-ni": (
        {SHA_NI: [(NI_LABEL, "\txorl %eax, %eax\n" + NI_LABEL)]},
        (), "simd-dispatch", "falls through into SIMD function"),
    "sha-ni-called-by-a-local-label-without-relocation": (
        {SHA_NI: [(NI_LABEL, NI_LABEL + ".Lsha_ni_entry:\n"),
                  ("\t.section .rodata\n", "\t.type sneaky, @function\nsneaky:\n"
                   "\tcall .Lsha_ni_entry\n\tret\n\t.size sneaky, . - sneaky\n"
                   "\t.section .rodata\n")]},
        (), "simd-dispatch", "'call 0x"),
    "dispatch-under-another-name": (
        {SHA256_C: [('#include "string.h"\n',
                     '#include "string.h"\n#define sha256_blocks sha256_choose\n')]},
        (), "simd-dispatch", "dispatch function 'sha256_blocks' must be one"),
    "dispatch-without-cpuid": (
        {SHA256_C: [("purgatory_sha256_path = sha256_cpu_path();",
                     "purgatory_sha256_path = SHA256_PATH_SHA_NI;")]},
        (), "simd-dispatch", "never runs cpuid"),
    "sha-ni-without-enabling-sse": (
        {}, ("-DPURGATORY_HOST",), "simd-dispatch", "does not write cr4"),
    "sse-in-another-function": (
        {"arch/x86/setup-x86_64.S": [("\tcld\t", "\tpxor\t%xmm0, %xmm0\n\tcld\t")]},
        (), "fpu-simd", "(purgatory_start+"),
}
RULES_COVERED = {fixture[2] for fixture in FIXTURES.values()}


@pytest.fixture(scope="module")
def purgatory(tmp_path_factory):
    return tree_purgatory.purgatory_ro(tmp_path_factory.mktemp("tree"))


def test_tree_purgatory_passes_with_its_dispatched_sha_ni(purgatory):
    assert [f.text() for f in check_file(str(purgatory), simd=DISPATCHED)] == []


def test_with_simd_none_every_sha_ni_instruction_is_refused(purgatory):
    findings = check_file(str(purgatory), simd=NONE)
    assert findings and {f.rule for f in findings} == {"fpu-simd"}
    assert all(f.symbol == "sha256_blocks_sha_ni" for f in findings
               if f.symbol is not None)


def test_generic_build_passes_the_no_simd_rule(tmp_path):
    ro = tree_purgatory.purgatory_ro(tmp_path, sha_ni=False)
    assert [f.text() for f in check_file(str(ro), simd=NONE)] == []


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_broken_dispatch_is_refused_naming_the_culprit(tmp_path, name):
    edits, defines, rule, words = FIXTURES[name]
    ro = tree_purgatory.purgatory_ro(tmp_path, edits, defines)
    findings = check_file(str(ro), simd=DISPATCHED)
    assert findings, f"{name}: accepted"
    assert {f.rule for f in findings} == {rule}, [f.text() for f in findings]
    assert any(words in f.message for f in findings), [f.text() for f in findings]
