# SPDX-License-Identifier: GPL-2.0-only
"""``kexec-purgatory check``: exit statuses, text and JSON output, bad files."""

import json

import mini_purgatory
from mini_purgatory import run_check
from conftest import kexec_purgatory_cli

JSON_FIELDS = ["file", "severity", "rule", "message", "symbol", "section",
               "offset", "relocation", "instruction"]


def test_clean_object_exits_0_silently(tmp_path):
    result = run_check(str(mini_purgatory.build(tmp_path)))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_json_lists_the_same_findings_as_text(tmp_path):
    bad = mini_purgatory.build(tmp_path, drop=mini_purgatory.CODE_MODEL_CFLAGS["pic"],
                               add=["-fno-pic", "-mcmodel=kernel", "-pg"])
    text = run_check(str(bad))
    as_json = run_check("--json", str(bad))
    assert text.returncode == as_json.returncode == 1
    result = json.loads(as_json.stdout)
    assert (result["exit_status"], result["errors"]) == (1, [])
    findings = result["findings"]
    assert {"reloc-type", "undefined-symbol"} <= {f["rule"] for f in findings}
    assert all(list(f) == JSON_FIELDS for f in findings)
    as_text = [f"{f['file']}: {f['severity']}: {f['rule']}: {f['message']}"
               for f in findings]
    assert as_text == text.stdout.splitlines()
    reloc = next(f for f in findings if f["rule"] == "reloc-type")
    assert reloc["relocation"] == "R_X86_64_32S" and reloc["section"] == ".text"
    assert isinstance(reloc["offset"], int)


def test_unreadable_and_non_elf_files_exit_2_with_one_line_each(tmp_path):
    good = mini_purgatory.build(tmp_path / "good")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an object\n")
    missing = tmp_path / "missing.ro"
    result = run_check(str(missing), str(text_file), str(good))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"kexec-purgatory: error: {missing}: cannot read")
    assert lines[1].startswith(f"kexec-purgatory: error: {text_file}: not an ELF")
    assert "Traceback" not in result.stderr


def test_truncated_object_exits_2_without_traceback(tmp_path):
    good = mini_purgatory.build(tmp_path)
    cut = tmp_path / "cut.ro"
    cut.write_bytes(good.read_bytes()[:40])
    result = run_check(str(cut))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and str(cut) in result.stderr


def test_errors_exit_1_and_warnings_only_with_strict(tmp_path):
    heavy = mini_purgatory.build(tmp_path, drop=["-g0"], add=["-g"])
    assert run_check(str(heavy)).returncode == 0
    strict = run_check("--strict", str(heavy))
    assert strict.returncode == 1
    assert ": warning: dead-weight: " in strict.stdout


def test_abi_none_skips_the_kernel_symbol_rules(tmp_path):
    renamed = mini_purgatory.build(
        tmp_path, c_edits=[("purgatory_sha256_digest", "sha256_digest")])
    assert run_check(str(renamed)).returncode == 1
    assert run_check("--abi", "none", str(renamed)).returncode == 0



def test_an_arm64_object_is_refused_in_one_line_saying_why(tmp_path):
    from test_diff import machine_object
    obj = machine_object(tmp_path, "arm64", bytes.fromhex("c0035fd6"), 183)
    result = kexec_purgatory_cli("check", obj)
    assert result.returncode == 1
    assert result.stdout.strip().endswith(
        "error: elf-header: AArch64: kexec_file loads no purgatory on arm64")


def test_abi_option_names_each_architectures_symbols():
    from kexec_purgatory import abi
    text = " ".join(kexec_purgatory_cli("check", "--help").stdout.split())
    for module in abi.ARCHITECTURES.values():
        assert f"{module.NAME}: {module.ENTRY_SYMBOL}" in text, module.NAME
    assert "riscv_kernel_entry" in text and "entry64_regs" in text
