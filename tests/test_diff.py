# SPDX-License-Identifier: GPL-2.0-only
"""kexec-purgatory diff: ELF-aware comparison of two purgatories given as
purgatory.ro, kexec-purgatory.c, an .incbin assembler file or Intel HEX."""

import json
import re
import shutil
import subprocess

import intelhex
from elftools.elf.elffile import ELFFile

from conftest import host_gcc, kexec_purgatory_cli


def diff_json(a, b):
    result = kexec_purgatory_cli("diff", "--json", a, b)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_diff_of_the_two_code_models_names_text_and_the_changed_relocations(built):
    pic, large = built("pic") / "purgatory.ro", built("large") / "purgatory.ro"
    result = kexec_purgatory_cli("diff", pic, large)
    assert result.returncode == 1
    assert "section .text:" in result.stdout
    assert "relocations .rela.text:" in result.stdout
    status, report = diff_json(pic, large)
    assert ".text" in [s["name"] for s in report["sections"]]
    [text_relocations] = [r for r in report["relocations"] if r["section"] == ".rela.text"]
    # pic uses PC-relative relocations where large uses absolute 64-bit ones.
    assert any("R_X86_64_PC32" in r or "R_X86_64_PLT32" in r
               for r in text_relocations["only_in_a"])
    assert any("R_X86_64_64" in r for r in text_relocations["only_in_b"])
    [text] = [s for s in report["sections"] if s["name"] == ".text"]
    first_a, first_b = text["instructions"]["a"][0], text["instructions"]["b"][0]
    assert (first_a["address"], first_a["bytes"]) != (first_b["address"], first_b["bytes"])


def object_with_rodata(tmp_path):
    """A real gcc object with a 64-byte table in .rodata."""
    source = tmp_path / "table.c"
    source.write_text("const unsigned char table[64] = { "
                      + ", ".join(str(i) for i in range(64)) + " };\n")
    obj = tmp_path / "table.o"
    subprocess.run([host_gcc(), "-O2", "-c", "-o", obj, source], check=True)
    return obj


def test_one_changed_byte_in_rodata_is_named_by_section_and_offset(tmp_path):
    original = object_with_rodata(tmp_path)
    with open(original, "rb") as f:
        rodata = ELFFile(f).get_section_by_name(".rodata")
        start, size = rodata["sh_offset"], rodata["sh_size"]
    offset = 0x15
    data = bytearray(original.read_bytes())
    data[start + offset] ^= 0xff
    changed = tmp_path / "changed.o"
    changed.write_bytes(data)
    result = kexec_purgatory_cli("diff", original, changed)
    assert result.returncode == 1
    assert f"section .rodata: {size} vs {size} bytes, first difference at " \
           f"offset 0x{offset:x}" in result.stdout
    assert "A 0x0010: 10 11 12 13 14 15 16" in result.stdout
    assert "B 0x0010: 10 11 12 13 14 ea 16" in result.stdout
    status, report = diff_json(original, changed)
    assert [(s["name"], s["first_difference"]) for s in report["sections"]] \
        == [(".rodata", offset)]
    assert report["symbols"] == [] and report["relocations"] == []


def test_purgatory_ro_and_its_own_c_array_are_identical(built):
    out = built("pic")
    result = kexec_purgatory_cli("diff", out / "purgatory.ro", out / "kexec-purgatory.c")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "identical: sha256" in result.stdout


def test_c_arrays_of_the_two_code_models_differ_like_their_objects(built):
    status, report = diff_json(built("pic") / "kexec-purgatory.c",
                               built("large") / "kexec-purgatory.c")
    assert status == 1
    assert ".text" in [s["name"] for s in report["sections"]]


def test_an_incbin_assembler_file_is_read_through_the_object_beside_it(built, tmp_path):
    shutil.copy(built("pic") / "purgatory.ro", tmp_path / "purgatory.ro")
    wrapper = tmp_path / "kexec-purgatory.S"
    wrapper.write_text('\t.section .rodata\nkexec_purgatory:\n'
                       '\t.incbin "purgatory.ro"\n')
    result = kexec_purgatory_cli("diff", wrapper, built("pic") / "kexec-purgatory.c")
    assert result.returncode == 0, result.stdout + result.stderr


def write_hex(path, data, base):
    image = intelhex.IntelHex()
    image.frombytes(data, offset=base)
    image.write_hex_file(str(path))


def test_intel_hex_images_are_compared_byte_for_byte(tmp_path):
    data = bytes(range(256)) * 4
    changed = bytearray(data)
    changed[0x123] ^= 1
    write_hex(tmp_path / "a.hex", data, 0x100000)
    write_hex(tmp_path / "b.hex", bytes(changed), 0x100000)
    write_hex(tmp_path / "c.hex", data, 0x100000)
    status, report = diff_json(tmp_path / "a.hex", tmp_path / "b.hex")
    assert status == 1 and report["image"]["first_difference"] == 0x123
    assert kexec_purgatory_cli("diff", tmp_path / "a.hex", tmp_path / "c.hex").returncode == 0


def test_an_object_is_compared_with_an_image_by_loading_it_at_the_same_address(built, tmp_path):
    ro = built("pic") / "purgatory.ro"
    image = tmp_path / "purgatory.hex"
    assert kexec_purgatory_cli("load", ro, "--addr", "0x100000", "-o", image).returncode == 0
    same = kexec_purgatory_cli("diff", ro, image)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "loaded at 0x100000" in same.stdout
    with open(ro, "rb") as f:
        data_offset = ELFFile(f).get_section_by_name(".data")["sh_offset"]
    changed = bytearray(ro.read_bytes())
    changed[data_offset + 0x21] ^= 0x80
    (tmp_path / "changed.ro").write_bytes(changed)
    status, report = diff_json(tmp_path / "changed.ro", image)
    assert status == 1
    assert (report["image"]["section"], report["image"]["section_offset"]) == (".data", 0x21)


def test_unreadable_input_is_one_line_naming_it_and_exit_2(built, tmp_path):
    junk = tmp_path / "junk.ro"
    junk.write_bytes(b"\x7fELF" + b"\xff" * 40)
    for other in (junk, tmp_path / "missing.ro"):
        result = kexec_purgatory_cli("diff", built("pic") / "purgatory.ro", other)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and other.name in result.stderr


def test_a_truncated_object_is_named_alone_on_either_side(built, tmp_path):
    good = built("pic") / "purgatory.ro"
    truncated = tmp_path / "truncated.ro"
    truncated.write_bytes(good.read_bytes()[:3000])
    for a, b in ((truncated, good), (good, truncated)):
        result = kexec_purgatory_cli("diff", a, b)
        assert result.returncode == 2
        assert re.fullmatch(
            f"kexec-purgatory: error: {re.escape(str(truncated))}: section "
            r"header table \(\d+ entries at 0x\w+\) runs past the end of "
            r"the file \(3000 bytes\)\n", result.stderr), result.stderr


def test_diff_names_relocation_types_newer_than_pyelftools_by_the_abi_table(tmp_path):
    """A GOT relocation from a default-visibility PIC object: the report
    names R_X86_64_GOTPCRELX (type 41), not a bare number."""
    import elf_objects
    source = "int shared = 1;\nint get(void) { return shared; }\n"
    plain = elf_objects.compile_c(tmp_path, "hidden", source,
                                  elf_objects.purgatory_cflags("pic"))
    got = elf_objects.compile_c(tmp_path, "got", source, elf_objects.purgatory_cflags(
        "pic", ["-fvisibility=default"]))
    result = kexec_purgatory_cli("diff", plain, got)
    assert result.returncode == 1, result.stderr
    assert "GOTPCRELX" in result.stdout, result.stdout
    assert "<unknown>" not in result.stdout and "type 41" not in result.stdout



def machine_object(tmp_path, name, code, e_machine):
    """A gcc object whose .text is replaced by ``code`` and whose e_machine
    is patched: a relocatable of another machine, without its compiler."""
    import elf_objects
    obj = elf_objects.compile_c(tmp_path, name, "int f(void) { return 0; }\n", ["-O2"])
    code_file = tmp_path / f"{name}.bin"
    code_file.write_bytes(code)
    subprocess.run(["objcopy", f"--update-section=.text={code_file}", str(obj)],
                   check=True)
    data = bytearray(obj.read_bytes())
    data[18:20] = e_machine.to_bytes(2, "little")
    obj.write_bytes(bytes(data))
    return obj


def test_diff_disassembles_each_machine_as_itself(tmp_path):
    """An AArch64 object is decoded as AArch64, not as x86: the first
    differing instruction reads as arm64's mov."""
    em_aarch64 = 183
    a = machine_object(tmp_path, "a", bytes.fromhex("20008052c0035fd6"), em_aarch64)
    b = machine_object(tmp_path, "b", bytes.fromhex("40008052c0035fd6"), em_aarch64)
    status, report = diff_json(a, b)
    assert status == 1
    [text] = [s for s in report["sections"] if s["name"] == ".text"]
    # capstone 5 prints the alias, capstone 4 (Debian 12's) the instruction.
    assert text["instructions"]["a"][0]["text"] in ("mov w0, #1", "movz w0, #0x1")
    assert text["instructions"]["b"][0]["text"] in ("mov w0, #2", "movz w0, #0x2")
