# SPDX-License-Identifier: GPL-2.0-only
"""Kernel mode asks Kbuild for the purgatory's commands: they equal Kbuild's
.cmd files word for word, the answer is cached so a null build runs no make,
and every way a tree can be wrong is one line saying what to do.

The tests on real trees use prepared Debian trees from the cache
(tests/linux_trees.py, marker `kernel`); the others use small stand-in
trees."""

import os
import shutil
from pathlib import Path

import pytest

import linux_trees
from kexec_purgatory.errors import UserError
from kexec_purgatory.kernel import kbuild
from kexec_purgatory.kernel import purgatory as steps_of
from kexec_purgatory.kernel.kconfig import read_config
from kexec_purgatory.kernel.tree import KernelTree, debian_package

FLAVOURS = tuple(linux_trees.FLAVOURS)


def ask(tree, out, env=None, **variables):
    return kbuild.commands(tree, tree.make_variables(variables), out,
                           dict(os.environ) if env is None else env,
                           lambda: tree.config["CC_VERSION_TEXT"],
                           progress=lambda line: None)[0]


# -- Against Kbuild (real trees) ---------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_kbuilds_answer_equals_its_cmd_files_word_for_word(kernel_trees, flavour,
                                                           tmp_path):
    src, obj = kernel_trees.prepared(flavour)
    found = ask(KernelTree(src, obj), tmp_path)
    names = [os.path.basename(c.target) for c in found]
    assert names == ["purgatory.o", "stack.o", "setup-x86_64.o", "sha256.o",
                     "entry64.o", "string.o", "purgatory.ro", "purgatory.chk"]
    for command in found:
        assert command.command == linux_trees.recorded_command(obj, command.target), \
            command.target


@pytest.mark.slow
def test_asking_kbuild_writes_nothing_in_the_source_or_output_tree(kernel_trees,
                                                                   tmp_path):
    from conftest import tree_listing
    src, obj = kernel_trees.prepared("cloud-amd64")
    before = tree_listing(src), tree_listing(obj)
    ask(KernelTree(src, obj), tmp_path)
    assert (tree_listing(src), tree_listing(obj)) == before


@pytest.mark.slow
def test_cached_answer_needs_no_make_until_the_configuration_changes(
        kernel_trees, tmp_path):
    """A null build runs no make: with make gone from PATH the cached
    answer still serves; a changed .config (a copy of OBJ, touched) asks
    again, and then a missing make is one line naming the package."""
    src, prepared_obj = kernel_trees.prepared("cloud-amd64")
    obj = tmp_path / "obj"
    shutil.copytree(prepared_obj, obj, symlinks=True)
    first = ask(KernelTree(src, obj), tmp_path / "out")
    tools = tmp_path / "bin"        # the toolchain, but no make
    tools.mkdir()
    for name in ("gcc", "ld", "objcopy"):
        (tools / name).symlink_to(shutil.which(name))
    no_make = dict(os.environ, PATH=str(tools))
    assert ask(KernelTree(src, obj), tmp_path / "out", env=no_make) == first
    auto_conf = obj / "include/config/auto.conf"
    stamp = auto_conf.stat().st_mtime_ns + 10**9
    os.utime(obj / ".config", ns=(stamp, stamp))
    os.utime(auto_conf, ns=(stamp + 1, stamp + 1))
    with pytest.raises(UserError, match=r"needs make \(Debian package make\)"):
        ask(KernelTree(src, obj), tmp_path / "out", env=no_make)


@pytest.mark.slow
def test_a_kbuild_failure_is_its_last_error_line(kernel_trees, tmp_path):
    src, obj = kernel_trees.prepared("cloud-amd64")
    with pytest.raises(UserError) as info:
        ask(KernelTree(src, obj), tmp_path, ARCH="no-such-arch")
    message = str(info.value)
    assert message.startswith("Kbuild failed for arch/x86/purgatory/: ")
    assert "no-such-arch" in message and "\n" not in message


@pytest.mark.slow
def test_steps_move_every_output_under_out_and_nothing_else(kernel_trees, tmp_path):
    src, obj = kernel_trees.prepared("cloud-amd64")
    found = ask(KernelTree(src, obj), tmp_path / "ask")
    out = str(tmp_path / "out")
    planned = steps_of.steps(found, str(obj), out)
    sha = steps_of.find(planned, "sha256.o")
    assert sha.tag == "CC" and sha.source == str(src / "lib/crypto/sha256.c")
    assert f"-o {out}/arch/x86/purgatory/sha256.o" in sha.command
    assert f"-Wp,-MMD,{out}/arch/x86/purgatory/.sha256.o.d" in sha.command
    # Kbuild's names for the module stay (they are strings, not paths).
    assert "-DKBUILD_MODFILE='\"arch/x86/purgatory/sha256\"'" in sha.command
    assert str(obj / "include/generated/autoconf.h") not in sha.forced
    assert str(src / "include/linux/kconfig.h") in sha.forced
    ro = steps_of.find(planned, "purgatory.ro")
    assert ro.tag == "LD" and len(ro.inputs) == 6
    assert all(f"{out}/arch/x86/purgatory/{name}" in ro.command
               for name in ("purgatory.o", "string.o", "purgatory.ro"))


# -- What is wrong with a tree (stand-in trees) ------------------------------

def fake_source(root, version=(6, 1, 192), arch="x86",
                kbuild="obj-$(CONFIG_KEXEC_FILE) += purgatory/\n"):
    src = Path(root) / "src"
    (src / "arch" / arch / "purgatory").mkdir(parents=True)
    (src / "arch" / arch / "Kbuild").write_text(kbuild)
    (src / "Makefile").write_text(
        "# SPDX-License-Identifier: GPL-2.0\nVERSION = %d\nPATCHLEVEL = %d\n"
        "SUBLEVEL = %d\nEXTRAVERSION =\n" % version)
    return src


def fake_output(root, config_lines, prepared=True, recorded=None):
    obj = Path(root) / "obj"
    obj.mkdir()
    (obj / ".config").write_text("\n".join(config_lines) + "\n")
    if prepared:
        for name in ("include/config/auto.conf", "include/generated/autoconf.h"):
            (obj / name).parent.mkdir(parents=True, exist_ok=True)
            (obj / name).write_text("")
        recorded = recorded or {"ARCH": "x86", "CC": "gcc", "LD": "ld",
                                "KERNELVERSION": "6.1.192"}
        (obj / "include/config/auto.conf.cmd").write_text("".join(
            f'\nifneq "$({k})" "{v}"\ninclude/config/auto.conf: FORCE\nendif\n'
            for k, v in recorded.items()))
    return obj


X86_64 = ["CONFIG_X86_64=y", "CONFIG_64BIT=y", "CONFIG_CC_IS_GCC=y",
          "CONFIG_KEXEC_FILE=y"]


def error_of(call):
    with pytest.raises(UserError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_output_directory_without_config_says_to_run_olddefconfig_prepare(tmp_path):
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


@pytest.mark.parametrize("option, machine", [("ARM64", "arm64"),
                                             ("LOONGARCH", "loongarch64"),
                                             ("PARISC", "parisc")])
def test_architecture_without_a_purgatory_is_named(tmp_path, option, machine):
    src = fake_source(tmp_path)
    obj = fake_output(tmp_path, [f"CONFIG_{option}=y", "CONFIG_64BIT=y"])
    assert error_of(lambda: KernelTree(src, obj)) == (
        f"{obj}/.config: a configuration for {machine}: kexec_file on "
        f"{machine} loads no purgatory")


def test_kexec_file_off_where_the_purgatory_needs_it_names_the_option(tmp_path):
    src = fake_source(tmp_path, arch="s390")
    obj = fake_output(tmp_path, ["CONFIG_S390=y", "CONFIG_64BIT=y"],
                      recorded={"ARCH": "s390", "CC": "s390x-linux-gnu-gcc-12"})
    message = error_of(lambda: KernelTree(src, obj))
    assert "CONFIG_KEXEC_FILE is off" in message and "s390x" in message
    assert "scripts/config --enable KEXEC_FILE" in message
    assert "ARCH=s390" in message and "CC=s390x-linux-gnu-gcc-12" in message


def test_config_changed_after_prepare_says_to_prepare_again(tmp_path):
    src = fake_source(tmp_path)
    obj = fake_output(tmp_path, X86_64)
    os.utime(obj / "include/config/auto.conf", (1, 1))
    assert "changed after the last prepare" in error_of(lambda: KernelTree(src, obj))


def test_directory_that_is_not_a_kernel_tree_is_named(tmp_path):
    message = error_of(lambda: KernelTree(tmp_path, tmp_path))
    assert f"KERNEL={tmp_path}" in message and "not a Linux source" in message


def test_compiler_other_than_the_configurations_names_both(tmp_path):
    src = fake_source(tmp_path)
    tree = KernelTree(src, fake_output(
        tmp_path, X86_64 + ['CONFIG_CC_VERSION_TEXT="gcc (Imaginary) 1.0"']))
    message = error_of(lambda: tree.check_compiler("gcc"))
    assert "gcc (Imaginary) 1.0" in message and "(Debian 12" in message
    assert "olddefconfig prepare" in message


def test_missing_cross_compiler_names_its_debian_package(tmp_path):
    src = fake_source(tmp_path)
    tree = KernelTree(src, fake_output(tmp_path, X86_64))
    message = error_of(lambda: tree.check_compiler("s390x-linux-gnu-gcc-12",
                                                   {"PATH": str(tmp_path)}))
    assert "gcc-12-s390x-linux-gnu" in message


@pytest.mark.parametrize("program, package", [
    ("s390x-linux-gnu-gcc-12", "gcc-12-s390x-linux-gnu"),
    ("powerpc64le-linux-gnu-gcc", "gcc-powerpc64le-linux-gnu"),
    ("riscv64-linux-gnu-ld", "binutils-riscv64-linux-gnu"),
    ("gcc-12", "gcc-12"), ("make", "make")])
def test_debian_package_of_a_toolchain_command(program, package):
    assert debian_package(program) == package


def test_make_variables_are_the_recorded_ones_with_the_callers_on_top(tmp_path):
    src = fake_source(tmp_path)
    tree = KernelTree(src, fake_output(tmp_path, X86_64, recorded={
        "ARCH": "x86", "KERNELVERSION": "6.1.1", "CC": "gcc",
        "CC_VERSION_TEXT": "gcc x", "RUSTC": "/nonexistent", "srctree": "/s"}))
    assert tree.version == "6.1.1"
    assert tree.make_variables({"KCFLAGS": "-O1"}) == {
        "ARCH": "x86", "CC": "gcc", "RUSTC": "/nonexistent", "KCFLAGS": "-O1"}


def test_config_reader_keeps_set_options_and_unquotes_strings(tmp_path):
    path = tmp_path / ".config"
    path.write_text('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\n'
                    'CONFIG_D="say \\"hi\\""\nCONFIG_E=0x10\n')
    config = read_config(path)
    assert config.enabled("A") and config.enabled("C")
    assert not config.enabled("B") and "B" not in config
    assert config["D"] == 'say "hi"' and config["E"] == "0x10"


def test_make_escapes_are_undone_as_make_would():
    assert kbuild.unescape("echo $$x $(pound)y") == "echo $x #y"


# -- Every kind of tree: 6.12 on four architectures, and unstable's 7.x ------

@pytest.mark.slow
@pytest.mark.parametrize("name", tuple(linux_trees.TREES))
def test_every_tree_kind_gets_kbuilds_commands_word_for_word(kernel_trees, name,
                                                            tmp_path):
    """Asked with nothing but the tree (the make variables it was configured
    with are read back from it), Kbuild gives each purgatory step exactly
    the command its .cmd file records."""
    tree = kernel_trees.prepared(name)
    found = ask(KernelTree(tree.src, tree.obj), tmp_path)
    assert any(c.target.endswith("/purgatory.ro") for c in found)
    for command in found:
        assert command.command == linux_trees.recorded_command(
            tree.obj, command.target), (name, command.target)


@pytest.mark.slow
def test_kcflags_and_w_go_through_to_kbuild_and_ask_again(kernel_trees, tmp_path):
    """Kbuild-only variables are Kbuild's business: they reach its
    commands, and a new value is a new answer (the cache key has it)."""
    src, obj = kernel_trees.prepared("cloud-amd64")
    tree = KernelTree(src, obj)
    plain = ask(tree, tmp_path)
    tuned = ask(tree, tmp_path, KCFLAGS="-DKEXEC_PURGATORY_PASSED", W="1")
    sha = next(c.command for c in tuned if c.target.endswith("/sha256.o"))
    assert "-DKEXEC_PURGATORY_PASSED" in sha and "-Wextra" in sha
    assert not any("-DKEXEC_PURGATORY_PASSED" in c.command for c in plain)
