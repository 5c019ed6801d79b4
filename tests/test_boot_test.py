# SPDX-License-Identifier: GPL-2.0-only
"""boot-test: real kernels in real QEMU kexec through real purgatories.

The kernel tests boot Debian's 6.1 cloud kernel with its own purgatory,
and a small 6.1 kernel (built once into the cache from
linux_trees.boot_source(): about 7 minutes on 2 cores) with this tree's
purgatory for each code model, through ``scons boot-test``, and with three
broken purgatories built from this tree: each must fail the way the kernel
makes it fail.  With CPU models with and without BMI2 (and SHA-NI where a
model has it) the purgatory must take the SHA-256 path the guest's
/proc/cpuinfo says it can, read from the guest's memory.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

from conftest import (CODE_MODELS, REPO, copy_tree, kexec_purgatory_cli,
                      require_tool, run_scons)
from kexec_purgatory.boottest import accel, kernel_config
from kexec_purgatory.errors import UserError
from kexec_purgatory.kernel.kconfig import parse_config

R_X86_64_GOTPCRELX = 41


def require_qemu():
    require_tool(shutil.which("qemu-system-x86_64"),
                 "no qemu-system-x86_64: apt-get install qemu-system-x86")


# -- Without a kernel ---------------------------------------------------------

def test_auto_accel_picks_tcg_when_the_cpu_flags_show_no_vmx_nor_svm(tmp_path):
    device = tmp_path / "kvm"
    device.write_bytes(b"")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 hypervisor\n")
    chosen = accel.choose("auto", str(device), str(cpuinfo))
    assert chosen.name == "tcg"
    assert "neither vmx nor svm" in chosen.reason
    cpuinfo.write_text("flags\t\t: fpu vmx sse2\n")
    assert accel.choose("auto", str(device), str(cpuinfo)).name == "kvm"
    assert accel.choose("tcg", str(device), str(cpuinfo)).name == "tcg"


def test_kvm_asked_where_it_is_not_usable_is_unusable_input(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse2\n")
    with pytest.raises(UserError, match="--accel kvm: no .*nokvm") as raised:
        accel.choose("kvm", str(tmp_path / "nokvm"), str(cpuinfo))
    assert raised.value.exit_code == 2


def test_boot_test_without_qemu_says_so_in_one_line_and_exits_2(tmp_path):
    image = tmp_path / "bzImage"
    image.write_bytes(b"not a kernel")
    result = subprocess.run(
        [sys.executable, "-m", "kexec_purgatory", "boot-test", "--kernel",
         str(image), "--logs", str(tmp_path / "logs")],
        capture_output=True, text=True, cwd=REPO / "site_scons",
        env=dict(os.environ, PATH=str(tmp_path)))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kexec-purgatory: error: qemu-system-x86_64: not found (Debian: "
        "apt-get install qemu-system-x86)"]


def test_a_config_without_kexec_file_or_crash_dump_is_refused_before_booting():
    config = kernel_config.ProbedConfig(
        parse_config("CONFIG_KEXEC_FILE=y\n# CONFIG_CRASH_DUMP is not set\n",
                     "bzImage's IKCONFIG"), "bzImage's IKCONFIG")
    kernel_config.check(config, ("normal", "crash"), "first")
    with pytest.raises(UserError) as raised:
        kernel_config.check(config, ("normal", "crash"), "second")
    assert str(raised.value) == ("the second kernel cannot serve the crash "
                                 "path: CONFIG_CRASH_DUMP is not set "
                                 "(bzImage's IKCONFIG)")
    assert raised.value.exit_code == 2
    without = kernel_config.ProbedConfig(parse_config("", "c"), "c")
    with pytest.raises(UserError, match="CONFIG_KEXEC_FILE is not set"):
        kernel_config.check(without, ("normal",), "first")


def test_sha256_path_probe_places_the_byte_and_the_kernel_entry_from_the_loaders_lines(
        built):
    from kexec_purgatory.boottest import sha256_path
    purgatory = (built("pic") / "purgatory.ro").read_bytes()
    probe = sha256_path.Probe.for_purgatory(purgatory, "purgatory.ro")
    log = ("kexec-bzImage64: Loaded purgatory at 0x35ff8000\n"
           "kexec-bzImage64: Loaded 64bit kernel at 0x36000000 "
           "bufsz=0x10 memsz=0x20\n")
    assert probe.find(log.splitlines()[0]) is None
    found = probe.find(log)
    with open(built("pic") / "purgatory.ro", "rb") as f:
        elf = ELFFile(f)
        symbols = elf.get_section_by_name(".symtab")
        (byte,) = symbols.get_symbol_by_name("purgatory_sha256_path")
        (regs,) = symbols.get_symbol_by_name("entry64_regs")
        data = elf.get_section(byte["st_shndx"])
        assert regs["st_shndx"] == byte["st_shndx"]
    # Both in the same section: the loader keeps their distance.
    assert found.byte - found.rip_slot == byte["st_value"] - (
        regs["st_value"] + 0x80)
    assert 0x35ff8000 <= found.byte < 0x35ff8000 + 0x100000
    assert data.name == ".data"
    assert found.handover == 0x36000200
    # An object without the byte (as Debian's purgatory): nothing to read.
    other = (built("pic") / "purgatory/string.o").read_bytes()
    assert sha256_path.Probe.for_purgatory(other, "string.o") is None
    assert sha256_path.name_of(2) == "bmi2"
    assert sha256_path.name_of(9) == "unknown (9)"


# -- Real kernels ---------------------------------------------------------------

def boot_test(*args):
    result = kexec_purgatory_cli("boot-test", "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


@pytest.fixture(scope="session")
def small_kernel(kernel_trees):
    """(SRC, OBJ): the boot source and the cached small kernel's build
    directory, built if missing."""
    from kexec_purgatory.boottest import small_kernel as small
    src = kernel_trees.boot_source()
    obj = kernel_trees.boot_kernel_dir()
    with small.locked(obj):
        small.build(str(src), str(obj))
    return src, obj


def boot_with(small_kernel, purgatory, logs, modes="normal,crash", *more):
    require_qemu()
    src, obj = small_kernel
    return boot_test("--source", src, "--kernel-o", obj, "--purgatory",
                     purgatory, "--logs", logs, "--modes", modes, *more)


def lines_of(report):
    return [f"{path['mode']}: {path['text']}" for path in report["paths"]]


@pytest.mark.slow
def test_debian_cloud_kernel_kexecs_through_its_own_purgatory_on_both_paths(
        kernel_images, tmp_path):
    require_qemu()
    vmlinuz = kernel_images.image("amd64", "cloud-amd64", "6.1.192-")
    status, report, stderr = boot_test("--kernel", vmlinuz,
                                       "--logs", tmp_path)
    assert status == 0, lines_of(report)
    assert [p["outcome"] for p in report["paths"]] == ["ok", "ok"]
    for path in report["paths"]:
        log = open(path["serial_log"], "rb").read()
        assert b"Loaded purgatory at 0x" in log
        assert b"kpboot: stage 2 ok" in log
    assert b"/proc/vmcore" in open(report["paths"][1]["serial_log"], "rb").read()
    if accel.kvm_problem():
        assert report["accel"]["name"] == "tcg"
        assert f"accelerator: tcg ({accel.kvm_problem()})" in stderr


@pytest.mark.slow
def test_debian_kernel_under_lockdown_refuses_the_unsigned_image_with_eperm(
        kernel_images, tmp_path):
    require_qemu()
    vmlinuz = kernel_images.image("amd64", "cloud-amd64", "6.1.192-")
    status, report, _ = boot_test("--kernel", vmlinuz, "--logs", tmp_path,
                                  "--modes", "normal",
                                  "--append", "lockdown=integrity")
    assert status == 1
    assert lines_of(report) == [
        "normal: signature refused: EPERM (Lockdown: init: kexec of unsigned "
        "images is restricted; see man kernel_lockdown.7)"]


@pytest.mark.slow
def test_cpu_model_goes_to_qemus_command_line(kernel_images, tmp_path):
    require_qemu()
    vmlinuz = kernel_images.image("amd64", "cloud-amd64", "6.1.192-")
    status, report, _ = boot_test("--kernel", vmlinuz, "--logs", tmp_path,
                                  "--modes", "normal", "--accel", "tcg",
                                  "--cpu", "qemu64,+sha-ni")
    assert status == 0, lines_of(report)
    (qemu_log,) = tmp_path.glob("*.normal.qemu.log")
    assert " -cpu qemu64,+sha-ni " in qemu_log.read_text().splitlines()[0]
    serial = open(report["paths"][0]["serial_log"], "rb").read()
    assert b"Command line: console=ttyS0 panic=-1 kpboot.stage=2" in serial


def test_a_cpu_model_qemu_does_not_know_means_the_test_could_not_run(
        kernel_images, tmp_path):
    require_qemu()
    vmlinuz = kernel_images.image("amd64", "cloud-amd64", "6.1.192-")
    result = kexec_purgatory_cli("boot-test", "--kernel", vmlinuz, "--logs",
                                 tmp_path, "--modes", "normal", "--cpu", "nosuchcpu")
    assert result.returncode == 2
    assert result.stdout == ("normal: QEMU failed (1): qemu-system-x86_64: "
                             "unable to find CPU model 'nosuchcpu'\n")


@pytest.mark.slow
@pytest.mark.parametrize("model", CODE_MODELS)
def test_scons_boot_test_embeds_this_trees_purgatory_and_both_paths_reach_the_second_kernel(
        small_kernel, tmp_path, model):
    require_qemu()
    src, obj = small_kernel
    tree = copy_tree(tmp_path / "tree")
    result = run_scons(tree, "boot-test", f"CODE_MODEL={model}",
                       f"KERNEL={src}", f"BOOT_KERNEL_O={obj}", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "normal: ok (" in result.stdout and "crash: ok (" in result.stdout
    purgatory = (tree / "build/purgatory.ro").read_bytes()
    carried = tree / "build/boot-test/bzImage"
    extracted = tmp_path / "extracted.ro"
    assert kexec_purgatory_cli("extract", carried, "-o", extracted).returncode == 0
    assert extracted.read_bytes() == purgatory
    assert re.search(r"config of \S+: \S+'s IKCONFIG", result.stderr)
    logs = sorted(p.name for p in (tree / "build/boot-test").glob("*.serial.log"))
    assert logs == ["bzImage.crash.serial.log", "bzImage.normal.serial.log"]


def build_changed(tmp_path, file, old, new):
    """This tree's purgatory.ro (pic) with ``old`` replaced by ``new`` in
    ``file``."""
    tree = copy_tree(tmp_path / "tree")
    source = tree / file
    text = source.read_text()
    assert old in text
    source.write_text(text.replace(old, new, 1))
    run_scons(tree, "build/purgatory.ro")
    return tree / "build/purgatory.ro"


@pytest.mark.slow
def test_changed_sha256_constant_jumps_then_stops_in_purgatory_verify_digest_after_the_bmi2_path(
        small_kernel, tmp_path):
    broken = build_changed(tmp_path, "purgatory/sha256.c", "0x428a2f98",
                           "0x428a2f99")
    status, report, _ = boot_with(small_kernel, broken, tmp_path / "logs",
                                  "normal", "--accel", "tcg",
                                  "--cpu", "Haswell")
    assert status == 1
    (line,) = lines_of(report)
    assert re.fullmatch(r"normal: jumped, then stopped in the purgatory at "
                        r"\+0x[0-9a-f]+ \(purgatory_verify_digest\+0x[0-9a-f]+\)",
                        line), line
    (path,) = report["paths"]
    assert {"bmi2", "movbe"} <= set(path["cpu_flags"])
    assert (path["sha256_path"], path["sha256_path_read"]) == (
        "bmi2", "stopped in the purgatory")
    with open(broken, "rb") as f:
        (verify,) = ELFFile(f).get_section_by_name(".symtab") \
            .get_symbol_by_name("purgatory_verify_digest")
    offset = int(line.rsplit("+", 1)[1].rstrip(")"), 16)
    assert offset < verify["st_size"]


def retype_first_relocation(path, new_type):
    """Rewrite the type of the first relocation of .rela.text in place."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        section = elf.get_section_by_name(".rela.text")
        assert isinstance(section, RelocationSection)
        relocation = section.get_relocation(0)
        at = section["sh_offset"] + 8       # r_offset, then r_info
        info = (relocation["r_info_sym"] << 32) | new_type
    data = bytearray(path.read_bytes())
    data[at:at + 8] = info.to_bytes(8, "little")
    path.write_bytes(bytes(data))


@pytest.mark.slow
def test_relocation_retyped_to_gotpcrelx_is_refused_at_load_with_the_kernels_line(
        small_kernel, built, tmp_path):
    broken = tmp_path / "purgatory.ro"
    shutil.copy(built("pic") / "purgatory.ro", broken)
    retype_first_relocation(broken, R_X86_64_GOTPCRELX)
    status, report, _ = boot_with(small_kernel, broken, tmp_path / "logs",
                                  "normal")
    assert status == 1
    assert lines_of(report) == [
        'normal: refused at load: ENOEXEC "kexec: Unknown rela relocation: 41"']


@pytest.mark.slow
def test_digest_moved_into_bss_is_refused_at_load_naming_the_bss_section(
        small_kernel, tmp_path):
    broken = build_changed(
        tmp_path, "purgatory/purgatory.c",
        '__section(".data")\nu8 purgatory_sha256_digest[SHA256_DIGEST_SIZE] = { 0 };',
        '__section(".bss")\nu8 purgatory_sha256_digest[SHA256_DIGEST_SIZE];')
    status, report, _ = boot_with(small_kernel, broken, tmp_path / "logs",
                                  "normal")
    assert status == 1
    assert lines_of(report) == [
        'normal: refused at load: EINVAL "kexec_file: symbol '
        'purgatory_sha256_digest is in a bss section. Cannot set"']


@pytest.mark.slow
def test_scons_boot_test_in_kernel_mode_embeds_the_purgatory_kbuilds_commands_build(
        small_kernel, tmp_path):
    require_qemu()
    src, obj = small_kernel
    prepared = tmp_path / "kbuild-obj"
    prepared.mkdir()
    shutil.copy(obj / ".config", prepared / ".config")
    subprocess.run(["make", "-s", "-j2", "-C", src, f"O={prepared}",
                    "olddefconfig", "prepare"], check=True, capture_output=True)
    tree = copy_tree(tmp_path / "tree")
    result = run_scons(tree, "boot-test", f"KERNEL={src}",
                       f"KERNEL_O={prepared}", f"BOOT_KERNEL_O={obj}",
                       "BOOT_TEST_ARGS=--modes normal", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "normal: ok (" in result.stdout and "crash:" not in result.stdout
    kbuilds = tree / "build/arch/x86/purgatory/purgatory.ro"
    extracted = tmp_path / "extracted.ro"
    assert kexec_purgatory_cli("extract", tree / "build/boot-test/bzImage",
                               "-o", extracted).returncode == 0
    assert extracted.read_bytes() == kbuilds.read_bytes()


# -- The SHA-256 path the purgatory took (issue 16) ---------------------------

@pytest.fixture(scope="module")
def dispatching_kernel(small_kernel, built, tmp_path_factory):
    """The small kernel carrying this tree's purgatory (SHA256=auto), built
    once for the tests below."""
    from kexec_purgatory.boottest import small_kernel as small
    src, obj = small_kernel
    output = tmp_path_factory.mktemp("dispatching") / "bzImage"
    return small.kernel_with(str(src), str(obj),
                             str(built("pic") / "purgatory.ro"), str(output))


def boot_cpu(kernel, logs, modes, *cpu):
    require_qemu()
    return boot_test("--kernel", kernel, "--logs", logs, "--modes", modes,
                     *cpu)


def assert_path_taken(report, stderr, path, has, lacks):
    """Every path reached stage 2, with the guest's CPU flags ``has`` and
    not ``lacks``, and the purgatory says it hashed with ``path`` (in the
    JSON and in the verdict line, which goes to stderr with --json)."""
    for judged in report["paths"]:
        start = f"boot-test: {judged['mode']}: {judged['text']}"
        (line,) = [line for line in stderr.splitlines()
                   if line.startswith(start)]
        assert judged["outcome"] == "ok", lines_of(report)
        flags = set(judged["cpu_flags"])
        assert has <= flags and not lacks & flags, sorted(flags)
        assert (judged["sha256_path"], judged["sha256_path_read"]) == (
            path, "at the new kernel's entry"), judged
        assert line.endswith(f"; SHA-256 path {path}, read at the new "
                             "kernel's entry"), line


@pytest.mark.slow
def test_haswell_without_sha_ni_takes_the_bmi2_path_into_the_second_kernel_on_both_paths(
        dispatching_kernel, tmp_path):
    status, report, stderr = boot_cpu(dispatching_kernel, tmp_path,
                                      "normal,crash", "--accel", "tcg",
                                      "--cpu", "Haswell")
    assert status == 0, lines_of(report)
    assert_path_taken(report, stderr, "bmi2", {"bmi2", "movbe"}, {"sha_ni"})


@pytest.mark.slow
def test_qemu64_without_bmi2_takes_the_generic_path_into_the_second_kernel(
        dispatching_kernel, tmp_path):
    status, report, stderr = boot_cpu(dispatching_kernel, tmp_path, "normal",
                                      "--accel", "tcg", "--cpu", "qemu64")
    assert status == 0, lines_of(report)
    assert_path_taken(report, stderr, "generic", set(), {"bmi2", "sha_ni"})


@pytest.mark.slow
def test_sha256_generic_build_takes_the_generic_path_on_a_cpu_with_bmi2(
        small_kernel, tmp_path):
    tree = copy_tree(tmp_path / "tree")
    run_scons(tree, "build/purgatory.ro", "SHA256=generic")
    status, report, stderr = boot_with(
        small_kernel, tree / "build/purgatory.ro", tmp_path / "logs",
        "normal", "--accel", "tcg", "--cpu", "Haswell")
    assert status == 0, lines_of(report)
    assert_path_taken(report, stderr, "generic", {"bmi2", "movbe"}, set())


@pytest.mark.slow
def test_cpu_with_sha_ni_takes_the_sha_ni_path_into_the_second_kernel_on_both_paths(
        dispatching_kernel, tmp_path):
    """Under KVM on a CPU with SHA-NI: -cpu host.  Under TCG: -cpu max, if
    this QEMU emulates SHA-NI; QEMU 7.2 (Debian 12) does not, which the
    guest's /proc/cpuinfo shows, and then the test is skipped with that
    measured reason."""
    if accel.kvm_problem() is None and "sha_ni" in accel.cpu_flags():
        cpu = ("--accel", "kvm", "--cpu", "host")
    else:
        cpu = ("--accel", "tcg", "--cpu", "max")
        status, report, stderr = boot_cpu(dispatching_kernel,
                                          tmp_path / "probe", "normal", *cpu)
        assert status == 0, lines_of(report)
        (judged,) = report["paths"]
        if "sha_ni" not in judged["cpu_flags"]:
            # The best path this CPU model has, taken: the dispatch reads
            # CPUID, and SHA-NI is not there to take.
            assert_path_taken(report, stderr, "bmi2", {"bmi2", "movbe"},
                              {"sha_ni"})
            version = subprocess.run(["qemu-system-x86_64", "--version"],
                                     capture_output=True, text=True)
            pytest.skip(f"{version.stdout.splitlines()[0]}: TCG's -cpu max "
                        "has no sha_ni in the guest's /proc/cpuinfo (and KVM: "
                        f"{accel.kvm_problem() or 'the host has no sha_ni'}): "
                        "no CPU model here runs the SHA-NI path")
    status, report, stderr = boot_cpu(dispatching_kernel, tmp_path,
                                      "normal,crash", *cpu)
    assert status == 0, lines_of(report)
    assert_path_taken(report, stderr, "sha-ni", {"sha_ni", "ssse3", "sse4_1"},
                      set())
