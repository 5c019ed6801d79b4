# SPDX-License-Identifier: GPL-2.0-only
"""The pipeline end to end: sources -> purgatory.ro -> purgatory.chk ->
kexec-purgatory.c, with Kbuild-style output and exact rebuilds."""

import subprocess

import pytest

from conftest import embedded_bytes, host_gcc, run_scons, tree_listing

OUTPUTS = ("purgatory.ro", "purgatory.chk", "kexec-purgatory.c")

DEBIAN_CFLAGS = ("-g -O2 -ffile-prefix-map=/build/pkg=. -fstack-protector-strong"
                 " -Wformat -Werror=format-security")
DEBIAN_CPPFLAGS = "-Wdate-time -D_FORTIFY_SOURCE=2"


def test_build_writes_outputs_under_O_and_leaves_source_tree_untouched(tree, tmp_path):
    before = tree_listing(tree)
    out = tmp_path / "elsewhere" / "out"
    run_scons(tree, f"O={out}")
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    assert tree_listing(tree) == before


def test_c_array_names_no_path_of_the_build_machine(tree, tmp_path):
    out = tmp_path / "abs-out"
    run_scons(tree, f"O={out}")
    text = (out / "kexec-purgatory.c").read_text()
    assert str(tmp_path) not in text
    assert "from purgatory.ro:" in text


def test_default_output_directory_is_build(tree):
    run_scons(tree)
    for name in OUTPUTS:
        assert (tree / "build" / name).is_file(), name


def test_quiet_output_is_one_kbuild_line_per_step(tree):
    out = run_scons(tree).stdout.splitlines()
    assert "  CC      build/purgatory/sha256.o" in out
    assert "  AS      build/arch/x86/entry64.o" in out
    assert "  LD      build/purgatory.ro" in out
    assert "  CHK     build/purgatory.chk" in out
    assert "  BIN2C   build/kexec-purgatory.c" in out
    assert not any(line.startswith(("gcc ", "ld ")) for line in out)


def test_verbose_output_prints_full_command_lines(tree):
    out = run_scons(tree, "V=1").stdout
    assert "gcc -o build/purgatory/sha256.o -c " in out
    assert "-mgeneral-regs-only" in out
    assert "ld -r -e purgatory_start -z nodefaultlib -T arch/x86/purgatory.lds" in out
    assert "  CC      " not in out


def test_c_array_compiled_by_host_gcc_gives_back_purgatory_ro(built, tmp_path):
    out = built("pic")
    blob, size, misalignment = embedded_bytes(out / "kexec-purgatory.c",
                                              tmp_path)
    ro = (out / "purgatory.ro").read_bytes()
    assert blob == ro
    assert size == len(ro)
    assert misalignment == 0


def test_second_run_rebuilds_nothing_and_says_so(tree):
    run_scons(tree)
    again = run_scons(tree).stdout
    assert "is up to date" in again
    assert "  CC  " not in again and "  LD  " not in again


@pytest.mark.parametrize("change, rebuilt, kept", [
    ("CODE_MODEL=large", ["  CC      build/purgatory/sha256.o",
                          "  LD      build/purgatory.ro"], []),
    ("CFLAGS=-O1", ["  CC      build/purgatory/sha256.o"],
     ["  AS      build/arch/x86/entry64.o"]),
    ("ARRAY_SYMBOL=my_purgatory", ["  BIN2C   build/kexec-purgatory.c"],
     ["  LD      build/purgatory.ro"]),
    ("SHA256=generic", ["  CC      build/purgatory/sha256.o",
                        "  LD      build/purgatory.ro",
                        "  CHECK   build/purgatory.ro"],
     ["  AS      build/arch/x86/sha256-ni.o"]),
])
def test_changing_a_variable_rebuilds_exactly_what_depends_on_it(
        tree, change, rebuilt, kept):
    run_scons(tree)
    out = run_scons(tree, change).stdout.splitlines()
    for line in rebuilt:
        assert line in out
    for line in kept:
        assert line not in out


def test_distro_hardening_flags_are_dropped_named_and_change_nothing(built, tree):
    result = run_scons(tree, f"CFLAGS={DEBIAN_CFLAGS}", f"CPPFLAGS={DEBIAN_CPPFLAGS}")
    dropped = [line for line in result.stdout.splitlines() if "dropped" in line]
    assert len(dropped) == 1
    for flag in ("-g", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"):
        assert flag in dropped[0]
    plain = (built("pic") / "purgatory.ro").read_bytes()
    assert (tree / "build" / "purgatory.ro").read_bytes() == plain


def test_undefined_function_fails_the_build_by_name_and_leaves_no_c_array(tree):
    source = tree / "purgatory" / "purgatory.c"
    source.write_text(source.read_text()
                      + "\nvoid no_such_helper(void);\n"
                        "void call_it(void);\nvoid call_it(void)\n{\n"
                        "\tno_such_helper();\n}\n")
    result = run_scons(tree, check=False)
    assert result.returncode != 0
    assert "undefined symbol: no_such_helper" in result.stderr
    assert not (tree / "build" / "kexec-purgatory.c").exists()


def test_failed_gate_removes_a_previously_built_c_array(tree):
    run_scons(tree)
    c_array = tree / "build" / "kexec-purgatory.c"
    assert c_array.exists()
    source = tree / "purgatory" / "string.c"
    source.write_text(source.read_text()
                      + "\nvoid missing_fn(void);\nvoid use_missing(void);\n"
                        "void use_missing(void)\n{\n\tmissing_fn();\n}\n")
    result = run_scons(tree, check=False)
    assert result.returncode != 0
    assert "missing_fn" in result.stderr
    assert not c_array.exists()


def test_missing_compiler_is_one_line_naming_the_variable(tree):
    result = run_scons(tree, "CC=no-such-gcc", check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "no-such-gcc" in lines[0] and "CC" in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_code_model_is_refused(tree):
    result = run_scons(tree, "CODE_MODEL=kernel", check=False)
    assert result.returncode != 0
    assert "CODE_MODEL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value, words", [("", "O: empty"),
                                          ("a-file", "O: a-file is not a directory"),
                                          ("a-file/out", "a-file is not a directory")])
def test_output_directory_that_cannot_be_one_is_one_line_naming_O(tree, value, words):
    (tree / "a-file").write_text("")
    result = run_scons(tree, f"O={value}", check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], result.stderr


def test_cachedir_that_is_a_file_is_one_line_naming_cachedir(tree):
    (tree / "a-file").write_text("")
    result = run_scons(tree, "CACHEDIR=a-file", check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["scons: *** CACHEDIR: a-file is not a directory  Stop."], result.stderr


@pytest.mark.parametrize("argument", ["CODE_MODEL=", "CODE_MODEL=kernel", "V=maybe",
                                      "SHA256=sha-ni"])
def test_bad_choice_or_yes_no_value_is_one_line_naming_the_variable(tree, argument):
    result = run_scons(tree, argument, check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"'{argument.split('=')[0]}'" in lines[0]


def test_bad_array_symbol_is_refused_before_building(tree):
    result = run_scons(tree, "ARRAY_SYMBOL=2bad", check=False)
    assert result.returncode == 2
    assert "ARRAY_SYMBOL" in result.stderr and "2bad" in result.stderr
    assert not (tree / "build" / "purgatory.ro").exists()


def test_help_lists_every_variable(tree):
    out = run_scons(tree, "-h").stdout
    assert "SCons Options:" not in out    # that list is scons -H's
    assert out.lstrip().startswith("CROSS_COMPILE: ")
    for name in ("CROSS_COMPILE", "CC", "LD", "OBJCOPY", "CFLAGS", "CPPFLAGS",
                 "CODE_MODEL", "SHA256", "V", "O", "PREFIX", "DESTDIR"):
        assert f"\n{name}: " in out, name


def test_help_starts_with_the_variables_not_with_scons_own_options(tree):
    out = run_scons(tree, "-h").stdout
    assert out.lstrip().startswith("CROSS_COMPILE: "), out[:200]
    assert "SCons Options:" not in out
    assert "scons -H" in out


PYTHON_STEPS = ("  CHK     build/purgatory.chk", "  CHECK   build/purgatory.ro",
                "  BIN2C   build/kexec-purgatory.c",
                "  INCBIN  build/kexec-purgatory.S",
                "  INFO    build/purgatory.buildinfo")


@pytest.mark.parametrize("module", ["formats/c_array.py", "elf/layout.py",
                                    "abi/x86_64.py", "files.py"])
def test_new_version_of_any_package_module_reruns_every_python_step(tree, module):
    """Every output written in Python depends on every module of the
    package, also one a step imports only indirectly (the checker reads
    the layout through elf/layout.py, the ABI through abi/x86_64.py); the
    compiler and the linker do not run again."""
    run_scons(tree)
    path = tree / "site_scons" / "kexec_purgatory" / module
    path.write_text(path.read_text() + "\n# a new version\n")
    out = run_scons(tree).stdout.splitlines()
    for line in PYTHON_STEPS:
        assert line in out, (module, out)
    assert not any(line.startswith(("  CC ", "  AS ", "  LD ")) for line in out)


def test_sha256_generic_builds_no_simd_and_passes_the_checker_without_dispatch(tree):
    from kexec_purgatory.check import check_file
    result = run_scons(tree, "SHA256=generic", "V=1")
    assert "sha256-ni" not in result.stdout
    assert "--simd 'none'" in result.stdout
    ro = tree / "build" / "purgatory.ro"
    assert [f.text() for f in check_file(str(ro), simd="none")] == []


def test_sha256_auto_is_checked_with_its_dispatched_simd(tree):
    result = run_scons(tree, "V=1")
    assert "--simd 'dispatched'" in result.stdout
    assert "arch/x86/sha256-ni.S" in result.stdout
