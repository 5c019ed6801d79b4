# SPDX-License-Identifier: GPL-2.0-only
"""What a distribution's package build does: dpkg-buildflags, install with
DESTDIR and PREFIX, clean, a CROSS_COMPILE toolchain, and one clear line
when a tool or a Python package is missing."""

import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import require_tool, run_scons
from kexec_purgatory.cli import manual

INSTALL_DIR = Path("usr/share/kexec-purgatory")
INSTALLED = {"purgatory.ro", "kexec-purgatory.c", "kexec-purgatory.S"}
EPOCH = 1700000000
CROSS_COMPILE = "x86_64-linux-gnu-"


@contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def files_under(root):
    root = Path(root)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def expected_install(build_dir):
    """What install puts in place: the outputs, and buildinfo when built."""
    buildinfo = {"purgatory.buildinfo"} if (build_dir / "purgatory.buildinfo").exists() else set()
    return ({str(INSTALL_DIR / name) for name in INSTALLED | buildinfo}
            | {f"usr/share/{path}" for path in manual.paths()})


def dpkg_buildflags(cwd):
    require_tool(shutil.which("dpkg-buildflags"),
                 "dpkg-buildflags not installed (Debian package dpkg-dev)")
    env = dict(os.environ, DEB_BUILD_MAINT_OPTIONS="hardening=+all")
    return {var: subprocess.run(["dpkg-buildflags", "--get", var], cwd=cwd,
                                env=env, check=True, capture_output=True,
                                text=True).stdout.strip()
            for var in ("CFLAGS", "CPPFLAGS", "LDFLAGS")}


def test_dpkg_buildflags_install_is_byte_identical_to_a_plain_build(built, tree, tmp_path):
    flags = dpkg_buildflags(tree)
    assert "-fstack-protector-strong" in flags["CFLAGS"]
    pkg = tmp_path / "debian" / "kexec-purgatory"
    result = run_scons(tree, "V=1", "CC=gcc", *(f"{k}={v}" for k, v in flags.items()),
                       "PREFIX=/usr", f"DESTDIR={pkg}", "install")
    dropped = [line for line in result.stdout.splitlines() if "dropped" in line]
    assert len(dropped) == 1
    named = re.split(r"[\s;()]+", dropped[0])
    for flag in ("-g", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"):
        assert flag in named
    ld_lines = [line for line in result.stdout.splitlines() if line.startswith("ld ")]
    assert ld_lines and not any("relro" in line or "-Wl," in line for line in ld_lines)
    plain = built("pic")
    for name in INSTALLED:
        assert (pkg / INSTALL_DIR / name).read_bytes() == (plain / name).read_bytes(), name


def test_install_puts_the_outputs_under_destdir_prefix_with_mode_0644(tree, tmp_path):
    pkg = tmp_path / "pkg"
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
    with umask(0o077):
        run_scons(tree, "PREFIX=/usr", f"DESTDIR={pkg}", "install", env=env)
    assert files_under(pkg) == expected_install(tree / "build")
    for name in files_under(pkg):
        installed = pkg / name
        assert installed.stat().st_mode & 0o7777 == 0o644, name
        assert installed.stat().st_mtime == EPOCH, name
        built_file = (tree / "build" / "share" / name.removeprefix("usr/share/")
                      if name.startswith(tuple(f"usr/share/{p}" for p in manual.paths()))
                      else tree / "build" / installed.name)
        assert installed.read_bytes() == built_file.read_bytes()


def test_install_does_not_carry_the_build_timestamps_over(tree, tmp_path):
    run_scons(tree)
    old = 1000000000
    for name in INSTALLED:
        os.utime(tree / "build" / name, (old, old))
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    run_scons(tree, f"DESTDIR={tmp_path / 'pkg'}", "install", env=env)
    for name in INSTALLED:
        installed = tmp_path / "pkg" / "usr/local/share/kexec-purgatory" / name
        assert installed.stat().st_mtime != old, name


def test_clean_removes_what_was_built_and_clean_install_what_was_installed(tree, tmp_path):
    pkg = tmp_path / "pkg"
    run_scons(tree, "PREFIX=/usr", f"DESTDIR={pkg}", "install")
    installed = expected_install(tree / "build")
    run_scons(tree, "-c")
    assert files_under(tree / "build") == {".sconsign.dblite"}
    assert files_under(pkg) == installed
    run_scons(tree, "-c", "PREFIX=/usr", f"DESTDIR={pkg}", "install")
    assert files_under(pkg) == set()


def test_cross_compile_prefix_reaches_every_tool(built, tree):
    require_tool(shutil.which(f"{CROSS_COMPILE}gcc") and shutil.which(f"{CROSS_COMPILE}ld"),
                 f"{CROSS_COMPILE}gcc/ld not installed (Debian: gcc-x86-64-linux-gnu)")
    out = run_scons(tree, f"CROSS_COMPILE={CROSS_COMPILE}", "V=1").stdout.splitlines()
    commands = [line for line in out if not line.startswith("scons:")]
    assert any(line.startswith(f"{CROSS_COMPILE}gcc -o build/purgatory/") for line in commands)
    assert any(line.startswith(f"{CROSS_COMPILE}ld -r ") for line in commands)
    assert any(line.startswith(f"{CROSS_COMPILE}ld -e ") for line in commands)
    assert any(f"--cc '{CROSS_COMPILE}gcc'" in line for line in commands)
    assert not any(line.startswith(("gcc ", "ld ")) for line in commands)
    assert (tree / "build" / "purgatory.ro").is_file()


def single_error_line(result):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_missing_linker_is_one_line_naming_it_and_the_variable(tree):
    line = single_error_line(run_scons(tree, "LD=no-such-ld", check=False))
    assert "no-such-ld" in line and "LD" in line


def test_destdir_that_is_a_file_is_one_line_naming_it(tree, tmp_path):
    (tmp_path / "a-file").write_text("")
    line = single_error_line(run_scons(tree, f"DESTDIR={tmp_path / 'a-file'}", "install",
                                       check=False))
    assert "(DESTDIR, PREFIX)" in line and f"{tmp_path / 'a-file'}" in line


def test_unparsable_compiler_is_one_line_naming_the_variable(tree):
    line = single_error_line(run_scons(tree, "CC='gcc", check=False))
    assert "CC: cannot parse" in line


def test_missing_cross_toolchain_is_one_line_naming_cross_compile(tree):
    line = single_error_line(run_scons(tree, "CROSS_COMPILE=nowhere-linux-gnu-",
                                       check=False))
    assert "nowhere-linux-gnu-gcc" in line and "CROSS_COMPILE" in line


def run_scons_with_only(modules, tree, tmp_path, *args):
    """scons under a Python whose only third-party modules are ``modules``."""
    pylib = tmp_path / "pylib"
    pylib.mkdir(parents=True)
    for name in modules:
        module = __import__(name)
        (pylib / name).symlink_to(Path(module.__file__).parent)
    env = dict(os.environ, PYTHONPATH=str(pylib))
    return subprocess.run([sys.executable, "-S", "-m", "SCons", "-Q", *args],
                          cwd=tree, env=env, capture_output=True, text=True)


def test_missing_pyelftools_is_one_line_naming_the_package(tree, tmp_path):
    line = single_error_line(run_scons_with_only(["SCons"], tree, tmp_path))
    assert "'pyelftools'" in line and "pip install pyelftools" in line


def test_missing_intelhex_for_the_ihex_format_is_one_line_naming_it(tree, tmp_path):
    result = run_scons_with_only(["SCons", "elftools", "capstone"], tree, tmp_path,
                                 "FORMATS=ihex", "TEST_RUN=no")
    line = single_error_line(result)
    assert "'intelhex'" in line and "FORMATS=ihex" in line
    # The other formats do not need it.
    assert run_scons_with_only(["SCons", "elftools", "capstone"], tree, tmp_path / "x",
                               "FORMATS=c,S", "TEST_RUN=no",
                               "build/kexec-purgatory.c", "build/kexec-purgatory.S"
                               ).returncode == 0


def test_missing_capstone_is_one_line_naming_the_package(tree, tmp_path):
    line = single_error_line(run_scons_with_only(["SCons", "elftools"], tree, tmp_path))
    assert "'capstone'" in line and "pip install capstone" in line
    assert not (tree / "build" / "purgatory.ro").exists()


def test_tool_without_its_package_is_one_line_naming_the_package(tree, tmp_path):
    shutil.rmtree(tree / "site_scons" / "kexec_purgatory")
    line = single_error_line(run_scons_with_only(["SCons", "elftools"], tree, tmp_path))
    assert "'kexec_purgatory'" in line and "pip install" in line
