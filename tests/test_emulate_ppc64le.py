# SPDX-License-Identifier: GPL-2.0-only
"""ppc64le emulation (emulate/ppc64le.py) on Debian's qemu-system-ppc64:
Kbuild's 6.12 purgatory, entered as kexec_sequence() enters it, reaches
the new kernel with the registers head_64.S expects; it checks no digest,
so a corrupted segment is entered and the result says so. Purgatories
broken one way each (made with the cross toolchain) are caught, and the
run says where each left its image."""

import contextlib
import io
import shutil
import tempfile

import pytest
import unicorn

import ppc64le_objects
from conftest import require_tool
from kexec_purgatory import cli
from kexec_purgatory.abi import ppc64le
from kexec_purgatory.emulate import emulator
from kexec_purgatory.emulate import ppc64le as emulate_ppc64le

TREE = "6.12-ppc64el"


@pytest.fixture(autouse=True)
def qemu(tmp_path, monkeypatch):
    require_tool(emulate_ppc64le.qemu_available(),
                 f"{emulate_ppc64le.QEMU} is not installed (Debian: qemu-system-ppc)")
    # Failed runs keep QEMU's log in a temporary directory: here, not /tmp.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture(scope="module")
def kbuild_ro(kernel_trees):
    return kernel_trees.prepared(TREE).kbuild_purgatory_dir / "purgatory.ro"


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    require_tool(ppc64le_objects.cross_tools(), f"{ppc64le_objects.GCC} is not installed")
    directory = tmp_path_factory.mktemp("ppc64le")
    return lambda name, extra="": ppc64le_objects.trampoline(directory, name, extra=extra)


def run(path, **kwargs):
    return emulator.run(path.read_bytes(), str(path), **kwargs)


def test_unicorn_cannot_run_little_endian_ppc64_so_qemu_does():
    """Why emulate/ppc64le.py needs QEMU: Unicorn refuses the mode."""
    with pytest.raises(unicorn.UcError):
        unicorn.Uc(unicorn.UC_ARCH_PPC,
                   unicorn.UC_MODE_PPC64 | unicorn.UC_MODE_LITTLE_ENDIAN)


@pytest.mark.parametrize("address", ppc64le.TEST_ADDRESSES, ids=hex)
def test_kbuild_purgatory_enters_the_kernel_big_endian_by_rfid(kbuild_ro, address):
    result = run(kbuild_ro, address=address)
    assert result.outcome == emulator.ENTERED, result.message
    assert result.passed and result.mismatched_registers == []
    kernel, initrd, fdt = result.regions
    assert result.rip == result.registers["pc"] == kernel["start"]
    assert result.registers["r3"] == fdt["start"]
    assert result.registers["r4"] == kernel["start"]
    assert result.registers["r5"] == 0
    assert (result.registers["r8"], result.registers["r9"]) == (
        emulate_ppc64le.OPAL_BASE, emulate_ppc64le.OPAL_ENTRY)
    # trampoline_64.S: rfid with MSR LE cleared, real mode, HV kept.
    assert result.registers["msr"] == emulate_ppc64le.KERNEL_MSR
    assert result.registers[emulate_ppc64le.FDT_BOOT_CPU] == emulate_ppc64le.BOOT_CPU
    assert result.left_image["instruction"] == "rfid"
    assert result.left_image["from"] == address + 0x1c0
    assert result.left_image["to"] == kernel["start"]
    # 65,536 turns of the delay loop and a few dozen more, nothing hashed.
    assert 65536 < result.instructions < 65536 + 100
    assert "big-endian" in result.message


def test_kbuild_purgatory_enters_a_corrupted_kernel_and_says_it_checks_no_digest(kbuild_ro):
    result = run(kbuild_ro, corruption=("kernel", 0x1234))
    assert result.outcome == emulator.ENTERED and result.passed
    assert result.digest_checked is False
    assert result.message.startswith(
        "entered the kernel at 0x1000000 although segment kernel was corrupted: "
        "powerpc's purgatory checks no digest")


def test_run_command_prints_where_the_purgatory_jumps(kbuild_ro):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(["run", str(kbuild_ro)])
    assert status == 0
    assert "it left its image at 0x200001c0 (rfid) for 0x1000000" in out.getvalue()


def test_contract_shaped_purgatory_entering_little_endian_passes(objects):
    """head_64.S's FIXUP_ENDIAN runs in either byte order: bctr, MSR LE set."""
    result = run(objects("good"))
    assert result.outcome == emulator.ENTERED, result.message
    assert result.registers["msr"] == emulate_ppc64le.KERNEL_MSR | emulate_ppc64le.MSR_LE
    assert result.left_image["instruction"] == "bctr"


def test_floating_point_instruction_faults_at_the_fp_unavailable_vector(objects):
    result = run(objects("fp", "\tfadd %f1, %f1, %f1"))
    assert result.outcome == emulator.FAULT
    assert "floating-point unavailable interrupt (vector 0x800)" in result.message
    # The failed run's QEMU log is kept, with QEMU's own line for it.
    with open(f"{result.log}/qemu.log") as log:
        assert "Raise exception at " in log.read()


def test_wrong_fdt_register_is_named(objects):
    result = run(objects("wrongr3", "\tli %r3, 0"))
    assert result.outcome == emulator.BAD_REGISTERS
    assert result.mismatched_registers == ["r3"]


def test_jump_past_the_kernel_entry_is_reported_with_where_it_went(objects):
    result = run(objects("elsewhere", "\taddi %r4, %r4, 0x100"))
    assert result.outcome == emulator.FAULT
    assert result.left_image["to"] == result.rip + 0x100
    assert f"for {result.rip + 0x100:#x}" in result.message


def test_write_into_a_segment_is_a_stray_write(objects):
    result = run(objects("stray", "\tstd %r5, 0x200(%r3)"))
    assert result.outcome == emulator.STRAY_WRITE
    fdt = result.regions[2]["start"]
    assert f"wrote at {fdt + 0x200:#x}" in result.message


def test_endless_loop_stops_at_the_instruction_limit(objects):
    """The log reader holds QEMU back once past the limit: it stops within
    a FIFO's worth of log (some hundred blocks)."""
    result = run(objects("spin", "1:\tb 1b"), max_instructions=100000)
    assert result.outcome == emulator.LIMIT
    assert 100000 < result.instructions < 102000


def test_address_beyond_the_guest_ram_limit_is_one_line(kbuild_ro):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(["run", "--addr", "2T", str(kbuild_ro)])
    assert status == 2
    assert err.getvalue().count("\n") == 1
    assert "the most guest RAM a run gives QEMU (1 TiB)" in err.getvalue()


def test_without_qemu_the_run_says_which_package_is_missing(kbuild_ro, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(["run", str(kbuild_ro)])
    assert status == 2 and err.getvalue().count("\n") == 1
    assert "needs qemu-system-ppc64 (Debian package qemu-system-ppc)" in err.getvalue()


def test_kdump_backs_up_the_first_64k_and_tells_the_kernel_to_run_at_load(kbuild_ro):
    """run --crash: load_backup_segment() adds a 64 KiB segment after the
    kernel and setup_purgatory_ppc64() sets run_at_load = 1;
    trampoline_64.S copies [0, 64 KiB) there and stores 1 at kernel + 0x5c."""
    result = run(kbuild_ro, crash=True)
    assert result.outcome == emulator.ENTERED and result.passed, result.message
    kernel, backup = result.regions[:2]
    assert backup == {"name": "backup", "start": kernel["start"] + 0x10000,
                      "length": 0x10000}
    assert result.registers[emulate_ppc64le.RUN_AT_LOAD_WORD] == 1
    assert "the first 64 KiB copied to the backup segment" in result.message
    # 8,192 turns of the 8-byte copy loop on top of the normal run.
    assert result.instructions > 65536 + 5 * 8192


def test_kdump_purgatory_that_skips_the_backup_is_caught(objects):
    """The contract-shaped trampoline copies nothing."""
    result = run(objects("good"), crash=True)
    assert result.outcome == emulator.FAULT
    assert "does not hold the first 0x10000 bytes of memory" in result.message
