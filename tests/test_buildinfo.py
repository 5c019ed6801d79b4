# SPDX-License-Identifier: GPL-2.0-only
"""purgatory.buildinfo: what the build was made from, deterministic and
free of paths and times; and kexec-purgatory verify against it."""

import hashlib
import json
import subprocess

from conftest import copy_tree, kexec_purgatory_cli, run_scons


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_build_record_holds_the_sha256_of_the_blob_every_output_and_every_input(built):
    out = built("pic")
    tree = out.parent
    record = json.loads((out / "purgatory.buildinfo").read_text())
    assert record["purgatory.ro"] == {"sha256": sha256(out / "purgatory.ro"),
                                      "size": (out / "purgatory.ro").stat().st_size}
    assert record["outputs"] == {name: sha256(out / name) for name in
                                 ("kexec-purgatory.c", "kexec-purgatory.S")}
    # Every input: the sources, what gcc says they include, the linker script.
    sources = [n for n in record["sources"] if n.endswith((".c", ".S"))]
    assert len(sources) >= 6
    inputs = {"arch/x86/purgatory.lds"}
    for name in sources:
        flags = record["flags"]["asm" if name.endswith(".S") else "c"]
        deps = subprocess.run(
            ["gcc", "-MM", *[f for f in flags if f.startswith(("-I", "-D", "-nostdinc"))],
             name], cwd=tree, capture_output=True, text=True, check=True).stdout
        inputs |= set(deps.replace("\\\n", " ").split()[1:])
    assert set(record["sources"]) == inputs
    for name, digest in record["sources"].items():
        assert sha256(tree / name) == digest, name
    assert record["code_model"] == "pic"
    assert record["generator"].startswith("kexec-purgatory ")
    assert "-mcmodel=small" in record["flags"]["c"]
    assert record["flags"]["ld"][-2:] == ["-T", "arch/x86/purgatory.lds"]
    for tool in ("gcc", "ld"):
        first = subprocess.run([tool, "--version"], capture_output=True,
                               text=True).stdout.splitlines()[0]
        assert first in record["toolchain"].values()


def test_build_record_is_sorted_json_without_build_paths(built):
    out = built("large")
    text = (out / "purgatory.buildinfo").read_text()
    record = json.loads(text)
    assert text == json.dumps(record, sort_keys=True, indent=2) + "\n"
    assert str(out.parent) not in text and "/tmp" not in text
    assert record["code_model"] == "large"


def test_build_records_of_builds_in_different_paths_are_byte_identical(tmp_path):
    shallow = copy_tree(tmp_path / "a")
    deep = copy_tree(tmp_path / "x" / "y" / "z" / "much" / "deeper" / "b")
    run_scons(shallow)
    run_scons(deep, f"O={tmp_path / 'elsewhere' / 'out'}", "-j2")
    assert (shallow / "build" / "purgatory.buildinfo").read_bytes() == \
        (tmp_path / "elsewhere" / "out" / "purgatory.buildinfo").read_bytes()


def test_build_record_is_rebuilt_when_only_a_header_comment_changes(tree):
    run_scons(tree)
    header = next((tree / "purgatory").glob("*.h"))
    header.write_text(header.read_text() + "/* changed */\n")
    out = run_scons(tree).stdout
    assert "  INFO    build/purgatory.buildinfo" in out
    record = json.loads((tree / "build" / "purgatory.buildinfo").read_text())
    assert record["sources"][f"purgatory/{header.name}"] == sha256(header)


def test_test_debug_variable_is_marked_test_only_in_the_help(tree):
    text = run_scons(tree, "-h").stdout
    assert "PURGATORY_TEST_DEBUG" in text
    assert "TEST ONLY" in text.split("PURGATORY_TEST_DEBUG", 1)[1][:200]


def test_verify_accepts_an_output_that_the_record_lists(built):
    out = built("pic")
    for name in ("kexec-purgatory.c", "purgatory.ro"):
        result = kexec_purgatory_cli("verify", out / name,
                                     "--buildinfo", out / "purgatory.buildinfo")
        assert result.returncode == 0, result.stdout
        assert f"matches {name} of the build record" in result.stdout


def test_verify_refuses_another_build_and_says_it_holds_another_purgatory(built):
    result = kexec_purgatory_cli("verify", built("large") / "kexec-purgatory.c",
                     "--buildinfo", built("pic") / "purgatory.buildinfo")
    assert result.returncode == 1
    assert "is not the recorded" in result.stdout
    assert "it holds a different purgatory" in result.stdout


def test_verify_of_a_reformatted_array_says_the_purgatory_is_the_recorded_one(built, tmp_path):
    out = built("pic")
    renamed = tmp_path / "kexec-purgatory.c"
    renamed.write_text((out / "kexec-purgatory.c").read_text()
                       .replace("kexec_purgatory_size", "other_size"))
    result = kexec_purgatory_cli("verify", renamed, "--buildinfo", out / "purgatory.buildinfo")
    assert result.returncode == 1
    assert "the purgatory it holds is the recorded purgatory.ro" in result.stdout


def test_verify_with_a_file_that_is_no_build_record_is_one_line_exit_2(built):
    out = built("pic")
    result = kexec_purgatory_cli("verify", out / "purgatory.ro",
                                 "--buildinfo", out / "kexec-purgatory.c")
    assert result.returncode == 2
    assert "not a build record" in result.stderr and result.stderr.count("\n") == 1


def test_recorded_flags_name_the_tree_relatively_and_the_output_dir_by_placeholder():
    from kexec_purgatory.build.record import path_free
    words = ["-I/src/tree/inc", "-I/src/tree", "-I/src/treeish", "-I/out/gen",
             "-I/src/tree/build/gen", "-DX=/src/tree"]
    assert path_free(words, "/src/tree", "/out") == [
        "-Iinc", "-I.", "-I/src/treeish", "-I<O>/gen", "-Ibuild/gen", "-DX=."]
    assert path_free(["-I/src/tree/build/gen"], "/src/tree", "/src/tree/build") \
        == ["-I<O>/gen"]


def test_build_record_lists_each_objects_compile_command_without_paths(built):
    out = built("pic")
    record = json.loads((out / "purgatory.buildinfo").read_text())
    assert set(record["commands"]) == {
        "arch/x86/setup-x86_64.o", "arch/x86/entry64.o", "arch/x86/stack.o",
        "purgatory/purgatory.o", "purgatory/sha256.o", "purgatory/string.o",
        "arch/x86/sha256-ni.o"}
    sha = record["commands"]["purgatory/sha256.o"]
    assert sha[:4] == ["gcc", "-o", "<O>/purgatory/sha256.o", "-c"]
    assert sha[-1] == "purgatory/sha256.c"
    assert "-ffile-prefix-map=<tree>=." in sha
    assert all(flag in sha for flag in record["flags"]["c"])


def test_a_flag_that_leaves_the_objects_unchanged_still_rewrites_the_record(tmp_path):
    tree = copy_tree(tmp_path / "t")
    run_scons(tree)
    ro = (tree / "build" / "purgatory.ro").read_bytes()
    out = run_scons(tree, "CFLAGS=-Wextra").stdout
    assert (tree / "build" / "purgatory.ro").read_bytes() == ro
    assert "  INFO    build/purgatory.buildinfo" in out
    record = json.loads((tree / "build" / "purgatory.buildinfo").read_text())
    assert "-Wextra" in record["commands"]["purgatory/sha256.o"]
