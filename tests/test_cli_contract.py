# SPDX-License-Identifier: GPL-2.0-only
"""Every ``kexec-purgatory`` command keeps one contract: exit 0 ok, 1 a
finding, 2 unusable input, with one line naming the culprit; ``--json``
everywhere, errors included; the exit status in every help; no output
written over an input or into a directory that is not there; what is
embedded is checked first."""

import json

import pytest

import mini_purgatory
from conftest import kexec_purgatory_cli
from kexec_purgatory.cli import COMMANDS

ABI_EDITS = dict(c_edits=[("entry64_regs[", "entry64_registers[")],
                 asm_edits=[("entry64_regs", "entry64_registers")])


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """A clean minimal purgatory."""
    return mini_purgatory.build(tmp_path_factory.mktemp("mini"))


def one_error_line(result, status, *words):
    assert result.returncode == status, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert str(word) in lines[0], lines[0]
    return lines[0]


# -- No output over an input, none into a missing directory -----------------

@pytest.mark.parametrize("command", [
    ["embed", "{src}", "-o", "{out}"],
    ["embed", "--format", "S", "{src}", "-o", "{out}"],
    ["load", "{src}", "--addr", "16M", "-o", "{out}"],
    ["extract", "{src}", "-o", "{out}"],
], ids=["embed", "embed-S", "load", "extract"])
@pytest.mark.parametrize("spelling", ["same", "dot-slash", "symlink"])
def test_no_command_writes_over_its_input(tmp_path, mini, command, spelling):
    src = tmp_path / "same.ro"
    src.write_bytes(mini.read_bytes())
    out = {"same": src, "dot-slash": tmp_path / "." / "same.ro",
           "symlink": tmp_path / "link.ro"}[spelling]
    if spelling == "symlink":
        out.symlink_to(src)
    before = src.read_bytes()
    result = kexec_purgatory_cli(*(w.format(src=src, out=out) for w in command))
    one_error_line(result, 2, "is the input")
    assert src.read_bytes() == before


@pytest.mark.parametrize("command", [
    ["embed", "{src}", "-o", "{out}"],
    ["embed", "--format", "S", "{src}", "-o", "{out}"],
    ["embed", "--format", "ihex", "{src}", "-o", "{out}"],
    ["load", "{src}", "--addr", "16M", "-o", "{out}"],
    ["extract", "{src}", "-o", "{out}"],
], ids=["embed", "embed-S", "embed-ihex", "load", "extract"])
def test_no_command_creates_the_directory_of_its_output(tmp_path, mini, command):
    out = tmp_path / "missing" / "deeper" / "out"
    result = kexec_purgatory_cli(*(w.format(src=mini, out=out) for w in command))
    one_error_line(result, 2, tmp_path / "missing" / "deeper", "does not exist")
    assert not (tmp_path / "missing").exists()


# -- embed checks what it embeds ---------------------------------------------

def _i386(workdir):
    return mini_purgatory.build(workdir, drop=["-mcmodel=small"], add=["-m32"],
                                asm=False, ld_prefix=["-m", "elf_i386"])


def _aarch64(workdir):
    path = mini_purgatory.build(workdir)
    data = bytearray(path.read_bytes())
    data[18:20] = (183).to_bytes(2, "little")      # EM_AARCH64
    path.write_bytes(bytes(data))
    return path


def _sse_without_abi_symbols(workdir):
    return mini_purgatory.build(workdir, drop=["-mgeneral-regs-only"],
                                add=["-O3", "-ftree-vectorize"], **ABI_EDITS)


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """Objects the checker refuses, built once: {name: path}."""
    root = tmp_path_factory.mktemp("refused")
    return {name: make(root / name) for name, make in (
        ("i386", _i386), ("aarch64", _aarch64),
        ("sse-without-abi-symbols", _sse_without_abi_symbols))}


@pytest.mark.parametrize("name", ["i386", "aarch64", "sse-without-abi-symbols"])
@pytest.mark.parametrize("form", ["c", "S", "ihex"])
def test_embed_refuses_an_object_the_checker_refuses(tmp_path, refused, name, form):
    obj = refused[name]
    out = tmp_path / "out"
    result = kexec_purgatory_cli("embed", "--format", form, obj, "-o", out)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert f"{obj}: not embedded: " in last
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_embed_with_abi_none_embeds_an_object_without_the_abi_symbols(tmp_path):
    obj = mini_purgatory.build(tmp_path / "obj", **ABI_EDITS)
    assert kexec_purgatory_cli("embed", obj, "-o", tmp_path / "x.c").returncode == 1
    result = kexec_purgatory_cli("embed", "--abi", "none", obj, "-o", tmp_path / "x.c")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "x.c").exists()


def test_embed_S_with_a_compiler_that_writes_nothing_names_the_compiler(tmp_path, mini):
    result = kexec_purgatory_cli("embed", "--format", "S", "--cc", "true",
                                 mini, "-o", tmp_path / "x.S")
    line = one_error_line(result, 2, "true (CC)", "x.S")
    assert ".incbin-check" not in line and "check.o" not in line


@pytest.mark.parametrize("form, option", [
    ("c", ["--load-addr", "0x2000"]), ("S", ["--load-addr", "0x2000"]),
    ("ihex", ["--cc", "gcc"]), ("ihex", ["--raw"]), ("c", ["--incbin-path", "x"])])
def test_embed_refuses_an_option_its_format_does_not_use(tmp_path, mini, form, option):
    result = kexec_purgatory_cli("embed", "--format", form, *option, mini,
                                 "-o", tmp_path / "out")
    one_error_line(result, 2, option[0], "applies to --format")
    assert not (tmp_path / "out").exists()


# -- The same damage, the same exit status ------------------------------------

@pytest.mark.parametrize("command", [
    ["check", "{cut}"], ["embed", "{cut}", "-o", "{out}"],
    ["load", "{cut}", "--addr", "16M", "-o", "{out}"], ["run", "{cut}"],
    ["diff", "{cut}", "{good}"]])
def test_a_truncated_object_is_exit_2_in_every_command(tmp_path, mini, command):
    cut = tmp_path / "cut.ro"
    cut.write_bytes(mini.read_bytes()[:len(mini.read_bytes()) // 2])
    out = tmp_path / "out"
    result = kexec_purgatory_cli(*(w.format(cut=cut, out=out, good=mini)
                                   for w in command))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert str(cut) in result.stdout + result.stderr
    assert not out.exists()


# -- --json on every command, errors included ----------------------------------

def _missing_input_command(name, missing, tmp_path):
    return {
        "check": [missing],
        "embed": [missing, "-o", tmp_path / "x.c"],
        "diff": [missing, missing],
        "verify": [missing, "--buildinfo", missing],
        "repro": [missing],
        "load": [missing, "--addr", "16M", "-o", tmp_path / "x.hex"],
        "run": [missing],
        "extract": [missing, "-o", tmp_path / "x.ro"],
        "verify-kernel": [missing, "--source", missing, "--config", missing],
        "test-run": [missing, "-o", tmp_path / "x.json"],
        "boot-test": ["--kernel", missing, "--logs", tmp_path / "logs"],
    }[name]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_reports_an_unusable_input_in_its_json(tmp_path, name):
    missing = tmp_path / "missing"
    result = kexec_purgatory_cli(name, "--json",
                                 *_missing_input_command(name, missing, tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["exit_status"] == 2
    assert str(missing) in report["error"]
    assert len(result.stderr.splitlines()) == 1


def test_check_json_on_an_unreadable_file_is_not_a_clean_pass(tmp_path, mini):
    result = kexec_purgatory_cli("check", "--json", mini, tmp_path / "missing.ro")
    report = json.loads(result.stdout)
    assert result.returncode == report["exit_status"] == 2
    assert report["findings"] == []
    assert [e["file"] for e in report["errors"]] == [str(tmp_path / "missing.ro")]
    assert "cannot read" in report["error"]


def test_a_usage_error_with_json_is_json_too():
    result = kexec_purgatory_cli("load", "--json", "x.ro")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["exit_status"] == 2 and "--addr" in report["error"]


def test_json_of_a_successful_embed_load_and_extract(tmp_path, mini):
    outputs = {}
    for command in (["embed", mini, "-o", tmp_path / "x.c"],
                    ["load", mini, "--addr", "16M", "-o", tmp_path / "x.hex"],
                    ["extract", tmp_path / "x.c", "-o", tmp_path / "y.ro"]):
        result = kexec_purgatory_cli(*command, "--json")
        assert result.returncode == 0, result.stderr
        outputs[command[0]] = json.loads(result.stdout)
    assert outputs["embed"]["exit_status"] == 0
    assert outputs["load"]["address"] == 16 << 20
    assert outputs["extract"]["bytes"] == len(mini.read_bytes())
    assert (tmp_path / "y.ro").read_bytes() == mini.read_bytes()


# -- Help and progress ---------------------------------------------------------

@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_help_has_the_exit_status_and_json(name):
    result = kexec_purgatory_cli(name, "-h")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "Exit status: 0 " in text and " 2 " in text.split("Exit status:")[1]
    assert "--json" in text


def test_help_dates_kernel_behaviour_by_version_not_by_year():
    import re
    from kexec_purgatory.cli import build_parser
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.choices and "check" in a.choices]
    for name, command in sub.choices.items():
        text = command.format_help()
        assert not re.search(r"(since|before|after|until) 20[0-9][0-9]", text), name


def test_run_on_large_segments_says_so_on_stderr_first(mini):
    result = kexec_purgatory_cli("run", mini, "--segments", "kernel=64M",
                                 "--max-instructions", "1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "kexec-purgatory run: " in result.stderr
    assert "64 MiB" in result.stderr
    assert "64 MiB" not in result.stdout


def test_verify_kernel_makes_its_work_directory_but_not_a_missing_path(tmp_path):
    work = tmp_path / "missing" / "work"
    result = kexec_purgatory_cli("verify-kernel", tmp_path / "vmlinuz", "--source",
                                 tmp_path, "--config", tmp_path / "config",
                                 "--work", work)
    one_error_line(result, 2, tmp_path / "missing", "does not exist")
    assert not (tmp_path / "missing").exists()


def test_an_error_naming_a_line_break_is_still_one_line(mini):
    """A name taken from the input (here --corrupt's, in a damaged object a
    section's) may hold a line break: the error stays one line, escaped."""
    result = kexec_purgatory_cli("run", mini, "--corrupt", "ker\rnel:1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "kexec-purgatory: error: --corrupt: no segment named ker\\rnel"]
