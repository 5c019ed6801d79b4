# SPDX-License-Identifier: GPL-2.0-only
"""The embedded forms selected by FORMATS, each read back and compared with
purgatory.ro: the .incbin assembly (Linux >= 6.0) here; the C array has its
own tests in test_build.py and test_embed.py."""

import subprocess
import sys

import pytest

from conftest import REPO, assemble, host_gcc, run_scons, symbol
from kexec_purgatory.formats import c_array, incbin
from kexec_purgatory.elf.reader import open_elf
from kexec_purgatory.errors import UserError


def test_incbin_file_assembles_to_rodata_holding_purgatory_ro(built, tmp_path):
    out = built("pic")
    elf = assemble(out / "kexec-purgatory.S", out, tmp_path / "k.o")
    ro = (out / "purgatory.ro").read_bytes()
    array, size = symbol(elf, "kexec_purgatory"), symbol(elf, "kexec_purgatory_size")
    for sym in (array, size):
        assert sym["st_info"]["bind"] == "STB_GLOBAL"
        assert elf.get_section(sym["st_shndx"]).name == ".rodata"
        assert sym["st_value"] % 8 == 0
    rodata = elf.get_section_by_name(".rodata")
    assert rodata["sh_addralign"] == 8
    data = rodata.data()
    assert data[array["st_value"]:array["st_value"] + len(ro)] == ro
    assert array["st_size"] == len(ro)
    assert int.from_bytes(data[size["st_value"]:size["st_value"] + 8], "little") == len(ro)
    assert size["st_size"] == 8


def test_incbin_file_refuses_to_assemble_against_another_purgatory_ro(built, tmp_path):
    out = built("pic")
    (tmp_path / "purgatory.ro").write_bytes((out / "purgatory.ro").read_bytes()[:-8])
    result = subprocess.run([host_gcc(), "-c", "-I", tmp_path, "-o", tmp_path / "k.o",
                             out / "kexec-purgatory.S"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "is not the" in result.stderr


def test_formats_variable_selects_the_outputs_and_symbol_names_reach_them(tree):
    run_scons(tree, "FORMATS=S", "ARRAY_SYMBOL=blob", "SIZE_SYMBOL=blob_len")
    assert not (tree / "build" / "kexec-purgatory.c").exists()
    text = (tree / "build" / "kexec-purgatory.S").read_text()
    assert "\t.globl blob\n" in text and "\t.globl blob_len\n" in text
    out = run_scons(tree, "FORMATS=c,S").stdout.splitlines()
    assert "  BIN2C   build/kexec-purgatory.c" in out
    assert "  INCBIN  build/kexec-purgatory.S" in out


@pytest.mark.parametrize("value", ["pdf", "c,elf", ""])
def test_unknown_format_is_one_line_naming_formats(tree, value):
    result = run_scons(tree, f"FORMATS={value}", check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "FORMATS" in lines[0]
    assert "Traceback" not in result.stderr


def test_one_name_for_array_and_size_stops_the_build_before_anything_is_written(tree):
    result = run_scons(tree, "ARRAY_SYMBOL=blob", "SIZE_SYMBOL=blob", check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "ARRAY_SYMBOL and SIZE_SYMBOL" in lines[0], result.stderr
    assert not (tree / "build" / "kexec-purgatory.c").exists()


@pytest.mark.parametrize("name", ["1x", "a.b", "int", ""])
def test_invalid_symbol_names_are_refused_for_the_incbin_form(name):
    with pytest.raises(UserError, match="not a valid C identifier"):
        incbin.incbin_text(b"\x7fELF", "purgatory.ro", size_symbol=name)


def test_incbin_that_fails_its_check_leaves_no_file(built, tmp_path):
    target = tmp_path / "kexec-purgatory.S"
    # `true` "assembles" without writing an object: the read-back must fail.
    with pytest.raises(UserError, match=r"true \(CC\): exited 0 without writing"):
        incbin.write_incbin(str(target), str(built("pic") / "purgatory.ro"), ["true"],
                            "kexec_purgatory", "kexec_purgatory_size")
    assert list(tmp_path.iterdir()) == []


def test_incbin_path_is_written_as_given_and_checked_against_the_file(built, tmp_path):
    target = tmp_path / "kexec-purgatory.S"
    incbin.write_incbin(str(target), str(built("pic") / "purgatory.ro"), [host_gcc()],
                        "kexec_purgatory", "kexec_purgatory_size",
                        incbin_path="arch/x86/purgatory/purgatory.ro")
    assert '\t.incbin "arch/x86/purgatory/purgatory.ro"\n' in target.read_text()


def test_cli_embed_S_writes_what_the_build_wrote(built, tmp_path):
    out = built("pic")
    subprocess.run([sys.executable, "-m", "kexec_purgatory", "embed", "--format", "S",
                    str(out / "purgatory.ro"), "-o", str(tmp_path / "k.S")],
                   check=True, cwd=REPO / "site_scons")
    assert (tmp_path / "k.S").read_bytes() == (out / "kexec-purgatory.S").read_bytes()


def cli_embed_S(built, output, *options):
    return subprocess.run([sys.executable, "-m", "kexec_purgatory", "embed", "--format", "S",
                           *options, str(built("pic") / "purgatory.ro"), "-o", str(output)],
                          capture_output=True, text=True, cwd=REPO / "site_scons")


def test_cli_embed_S_into_a_path_that_cannot_be_a_directory_is_one_line(built, tmp_path):
    (tmp_path / "file").write_text("")
    result = cli_embed_S(built, tmp_path / "file" / "k.S")
    assert result.returncode == 2
    assert result.stderr.startswith(f"kexec-purgatory: error: {tmp_path / 'file' / 'k.S'}: "
                                    "cannot write")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("cc, words", [("", "no compiler"), ("'gcc", "cannot parse")])
def test_cli_embed_S_with_an_unusable_cc_is_one_line_naming_it(built, tmp_path, cc, words):
    result = cli_embed_S(built, tmp_path / "k.S", "--cc", cc)
    assert result.returncode == 2
    assert result.stderr.startswith(f"kexec-purgatory: error: --cc: {words}")
    assert len(result.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def section_offsets(elf):
    """Where the kernel puts each SHF_ALLOC PROGBITS section: header order,
    each at its alignment (the facts file), computed here independently."""
    offsets, at = {}, 0
    for index, section in enumerate(elf.iter_sections()):
        if section["sh_flags"] & 2 and section["sh_type"] != "SHT_NOBITS":
            align = max(section["sh_addralign"], 1)
            at = (at + align - 1) // align * align
            offsets[index] = at
            at += section["sh_size"]
    return offsets


@pytest.mark.parametrize("model", ["pic", "large"])
def test_ihex_holds_purgatory_ro_relocated_at_load_addr(built, tmp_path, model):
    from intelhex import IntelHex
    load_addr = 0x7ff000
    ro = built(model) / "purgatory.ro"
    hex_file = tmp_path / "purgatory.hex"
    subprocess.run([sys.executable, "-m", "kexec_purgatory", "embed", "--format", "ihex",
                    "--load-addr", hex(load_addr), str(ro), "-o", str(hex_file)],
                   check=True, cwd=REPO / "site_scons")
    image = IntelHex(str(hex_file))
    assert image.minaddr() == load_addr
    elf = open_elf(str(ro))
    offsets = section_offsets(elf)
    symtab = elf.get_section_by_name(".symtab")
    entry = symbol(elf, "purgatory_start")
    assert image.start_addr == {"EIP": load_addr + offsets[entry["st_shndx"]] + entry["st_value"]}
    relocated = 0
    for index, at in offsets.items():
        section = elf.get_section(index)
        expected = bytearray(section.data())
        rela = elf.get_section_by_name(".rela" + section.name)
        for reloc in rela.iter_relocations() if rela else ():
            sym = symtab.get_symbol(reloc["r_info_sym"])
            value = load_addr + offsets[sym["st_shndx"]] + sym["st_value"] + reloc["r_addend"]
            place = load_addr + at + reloc["r_offset"]
            width, value = {1: (8, value), 2: (4, value - place), 4: (4, value - place)}[
                reloc["r_info_type"]]
            expected[reloc["r_offset"]:reloc["r_offset"] + width] = \
                (value % (1 << 8 * width)).to_bytes(width, "little")
            relocated += 1
        start = load_addr + at
        assert image.tobinstr(start=start, size=len(expected)) == bytes(expected), section.name
    assert relocated > 0


def test_ihex_format_is_built_by_scons_at_LOAD_ADDR(tree):
    from intelhex import IntelHex
    run_scons(tree, "FORMATS=c,S,ihex", "LOAD_ADDR=0x2000000")
    for name in ("kexec-purgatory.c", "kexec-purgatory.S", "purgatory.hex"):
        assert (tree / "build" / name).is_file(), name
    assert IntelHex(str(tree / "build" / "purgatory.hex")).minaddr() == 0x2000000


@pytest.mark.parametrize("value", ["0x1234", "5G", "lots"])
def test_bad_load_addr_is_one_line_naming_it(tree, value):
    result = run_scons(tree, "FORMATS=ihex", f"LOAD_ADDR={value}", check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "LOAD_ADDR" in lines[0]


def test_help_lists_the_format_variables(tree):
    out = run_scons(tree, "-h").stdout
    for name in ("FORMATS", "LOAD_ADDR"):
        assert f"\n{name}: " in out, name
