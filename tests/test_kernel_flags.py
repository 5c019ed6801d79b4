# SPDX-License-Identifier: GPL-2.0-only
"""Kernel mode's flag derivation, against Kbuild's own .cmd files.

The slow tests use real Debian 6.1 trees prepared in the cache
(tests/linux_trees.py); the fast ones use small stand-in trees for the
error paths and the table's mechanics.
"""

import filecmp
import os
import subprocess
from pathlib import Path

import pytest

import linux_trees
from linux_trees import kbuild_command
from kexec_purgatory.errors import UserError
from kexec_purgatory.kernel import flags as flag_table
from kexec_purgatory.kernel.kconfig import read_config
from kexec_purgatory.kernel.purgatory import (
    DIRECTORY, OBJECTS, KernelPurgatory, filter_out, split_include_options)
from kexec_purgatory.kernel.tree import KernelTree

FLAVOURS = tuple(linux_trees.FLAVOURS)


@pytest.fixture(scope="module", params=FLAVOURS)
def prepared_tree(request, kernel_trees):
    """(flavour, KernelTree) of a prepared Debian tree from the cache."""
    src, obj = kernel_trees.prepared(request.param)
    return request.param, KernelTree(src, obj)


# -- Against Kbuild (slow: prepared trees) ---------------------------------

@pytest.mark.slow
def test_derived_compile_commands_equal_kbuild_cmd_files(prepared_tree):
    _, tree = prepared_tree
    plan = KernelPurgatory(tree)
    for obj in plan.objects:
        want = kbuild_command(tree.obj, obj.name)
        got = obj.command(["gcc"], f"{DIRECTORY}/{obj.name}")
        assert got == want, obj.name


@pytest.mark.slow
def test_derived_link_commands_equal_kbuild_cmd_files(prepared_tree):
    _, tree = prepared_tree
    plan = KernelPurgatory(tree)
    inputs = [f"{DIRECTORY}/{name}" for name, _ in OBJECTS]
    assert plan.link_command("purgatory.ro", inputs,
                             f"{DIRECTORY}/purgatory.ro") == \
        kbuild_command(tree.obj, "purgatory.ro")
    assert plan.link_command("purgatory.chk", [f"{DIRECTORY}/purgatory.ro"],
                             f"{DIRECTORY}/purgatory.chk") == \
        kbuild_command(tree.obj, "purgatory.chk")


@pytest.mark.slow
@pytest.mark.parametrize("spelling", ["kbuild", "absolute"])
def test_derived_commands_build_kbuilds_purgatory_byte_for_byte(
        prepared_tree, spelling, tmp_path):
    """Run from OBJ with Kbuild's relative spellings, or from elsewhere with
    absolute paths: the objects and purgatory.ro are Kbuild's, byte for
    byte, and the source tree is not written to."""
    _, tree = prepared_tree
    if spelling == "kbuild":
        plan, cwd = KernelPurgatory(tree), tree.obj
    else:
        plan = KernelPurgatory(tree, srctree=str(tree.src),
                               objtree=str(tree.obj))
        cwd = tmp_path
    before = os.stat(tree.src).st_mtime_ns
    outputs = []
    for obj in plan.objects:
        out = tmp_path / obj.name
        subprocess.run(obj.command(["gcc"], str(out)), cwd=cwd, check=True)
        outputs.append(str(out))
    ro = tmp_path / "purgatory.ro"
    subprocess.run(plan.link_command("purgatory.ro", outputs, str(ro)),
                   cwd=cwd, check=True)
    for name in [n for n, _ in OBJECTS] + ["purgatory.ro"]:
        assert filecmp.cmp(tmp_path / name, tree.obj / DIRECTORY / name,
                           shallow=False), name
    assert os.stat(tree.src).st_mtime_ns == before


@pytest.mark.slow
def test_flavours_that_differ_in_gated_options_get_different_flags(
        kernel_trees):
    """The tweaked flavour flips options the table gates: its flags and its
    Kbuild purgatory.ro differ from the Debian flavour it came from."""
    trees = {f: KernelTree(*kernel_trees.prepared(f))
             for f in ("cloud-amd64", "cloud-amd64-tweaked")}
    plain, tweaked = (KernelPurgatory(t).objects[0].flags
                      for t in trees.values())
    assert "-O2" in plain and "-Os" in tweaked
    assert "-fcf-protection=branch" in tweaked
    assert not filecmp.cmp(*(t.obj / DIRECTORY / "purgatory.ro"
                             for t in trees.values()), shallow=False)


# -- Error paths (fast: stand-in trees) ------------------------------------

def fake_source(root, version=(6, 1, 192)):
    src = Path(root) / "src"
    (src / "arch/x86/purgatory").mkdir(parents=True)
    (src / "Makefile").write_text(
        "# SPDX-License-Identifier: GPL-2.0\nVERSION = %d\nPATCHLEVEL = %d\n"
        "SUBLEVEL = %d\nEXTRAVERSION =\n" % version)
    return src


def fake_output(root, config_lines, prepared=True):
    obj = Path(root) / "obj"
    obj.mkdir()
    (obj / ".config").write_text("\n".join(config_lines) + "\n")
    if prepared:
        for name in ("include/config/auto.conf",
                     "include/generated/autoconf.h",
                     "include/generated/uapi/linux/version.h",
                     "include/generated/bounds.h",
                     "arch/x86/include/generated/asm/rwonce.h",
                     "arch/x86/include/generated/uapi/asm/unistd_64.h"):
            (obj / name).parent.mkdir(parents=True, exist_ok=True)
            (obj / name).write_text("")
    return obj


X86_64 = ["CONFIG_X86_64=y", "CONFIG_64BIT=y", "CONFIG_CC_IS_GCC=y"]


def error_of(call):
    with pytest.raises(UserError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_output_directory_without_config_says_to_run_olddefconfig_prepare(
        tmp_path):
    src = fake_source(tmp_path)
    obj = tmp_path / "obj"
    obj.mkdir()
    message = error_of(lambda: KernelTree(src, obj))
    assert "no .config" in message
    assert f"make -C {src} O={obj} olddefconfig prepare" in message


def test_unprepared_output_directory_says_to_run_prepare(tmp_path):
    src = fake_source(tmp_path)
    obj = fake_output(tmp_path, X86_64, prepared=False)
    message = error_of(lambda: KernelTree(src, obj))
    assert "not prepared" in message and "include/config/auto.conf" in message
    assert f"make -C {src} O={obj} olddefconfig prepare" in message


def test_config_for_another_architecture_names_it(tmp_path):
    src = fake_source(tmp_path)
    obj = fake_output(tmp_path, ["CONFIG_ARM64=y", "CONFIG_64BIT=y"])
    message = error_of(lambda: KernelTree(src, obj))
    assert "arm64" in message and "not x86_64" in message
    assert "olddefconfig prepare" in message


def test_config_changed_after_prepare_says_to_prepare_again(tmp_path):
    src = fake_source(tmp_path)
    obj = fake_output(tmp_path, X86_64)
    auto_conf = obj / "include/config/auto.conf"
    os.utime(auto_conf, (1, 1))
    message = error_of(lambda: KernelTree(src, obj))
    assert "changed after the last prepare" in message


def test_directory_that_is_not_a_kernel_tree_is_named(tmp_path):
    message = error_of(lambda: KernelTree(tmp_path, tmp_path))
    assert f"KERNEL={tmp_path}" in message and "not a Linux source" in message


def test_unknown_kernel_version_names_the_table_to_extend(tmp_path):
    src = fake_source(tmp_path, version=(6, 6, 30))
    tree = KernelTree(src, fake_output(tmp_path, X86_64))
    message = error_of(lambda: flag_table.check_supported(tree))
    assert "6.6.30" in message and "kernel/flags.py" in message


def test_clang_configuration_is_refused_with_the_unmodelled_makefile(
        tmp_path):
    src = fake_source(tmp_path)
    tree = KernelTree(src, fake_output(tmp_path, X86_64 +
                                       ["CONFIG_CC_IS_CLANG=y"]))
    message = error_of(lambda: flag_table.check_supported(tree))
    assert "CONFIG_CC_IS_CLANG" in message and "Makefile.clang" in message


def test_compiler_other_than_the_configurations_is_refused(tmp_path):
    src = fake_source(tmp_path)
    tree = KernelTree(src, fake_output(
        tmp_path, X86_64 + ['CONFIG_CC_VERSION_TEXT="gcc (Imaginary) 1.0"']))
    message = error_of(lambda: tree.check_compiler(["gcc"]))
    assert "gcc (Imaginary) 1.0" in message and "olddefconfig" in message


# -- Mechanics (fast) -------------------------------------------------------

def test_config_reader_keeps_set_options_and_unquotes_strings(tmp_path):
    path = tmp_path / ".config"
    path.write_text('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\n'
                    'CONFIG_D="say \\"hi\\""\nCONFIG_E=0x10\n')
    config = read_config(path)
    assert config.enabled("A") and config.enabled("C")
    assert not config.enabled("B") and "B" not in config
    assert config["D"] == 'say "hi"' and config["E"] == "0x10"


def test_gate_expressions_follow_the_configuration(tmp_path):
    path = tmp_path / ".config"
    path.write_text("CONFIG_A=y\nCONFIG_N=0\nCONFIG_V=120200\n")
    config = read_config(path)
    assert flag_table.holds("A && !B", config)
    assert not flag_table.holds("A && B", config)
    assert flag_table.holds("N == 0", config)
    assert not flag_table.holds("N != 0", config)
    assert flag_table.holds("V >= 90100", config)
    assert not flag_table.holds("V >= 130000", config)


def test_filter_out_has_make_semantics():
    words = ["-pg", "-fprofile-use=x", "-fprofile-usefoo", "-O2", "-pg"]
    assert filter_out(["-pg", "-fprofile-use=%"], words) == \
        ["-fprofile-usefoo", "-O2"]


def test_include_options_are_split_off_in_order():
    words = ["-nostdinc", "-I/a", "-include", "/a/k.h", "-O2", "-I", "/b",
             "-D_X", "-include", "/a/t.h"]
    assert split_include_options(words) == (
        ["-nostdinc", "-O2", "-D_X"], ["/a", "/b"], ["/a/k.h", "/a/t.h"])
