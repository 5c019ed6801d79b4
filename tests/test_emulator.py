# SPDX-License-Identifier: GPL-2.0-only
"""The project's purgatory, loaded as the kernel loads it and run in an
emulated x86_64 up to the new kernel's entry: wherever the kernel may place
it, with any region table, and never past a corrupted segment."""

import hashlib
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kexec_purgatory.emulate import emulator, segments
from kexec_purgatory.emulate.machine import (CPU_MODELS_UNSUPPORTED, CPU_MODELS_WORK,
                                              REACH, UNREACHABLE)
from kexec_purgatory.errors import UserError
from kexec_purgatory.abi.x86_64 import GENERAL_REGISTERS, IDENTITY_MAP_LIMIT

import elf_objects
from conftest import CODE_MODELS, kexec_purgatory_cli

# Small segments keep each run to a fraction of a second.
SMALL_SEGMENTS = "kernel=8K,boot_params=4K,cmdline=100,initrd=3001"
FOUR_GIB = 1 << 32
# Where this Unicorn can run a purgatory: the identity map's end, or 1 TiB
# without its virtual TLB (Debian 12's 2.0.1, which says so: UNREACHABLE).
HIGHEST_TESTED = min(IDENTITY_MAP_LIMIT, REACH) - (1 << 20)
# An address above 4 GiB that every Unicorn reaches.
HIGH = min(1 << 40, REACH - (1 << 30))

RUN_SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                        suppress_health_check=[HealthCheck.too_slow])


def run(path, address=FOUR_GIB, spec=SMALL_SEGMENTS, corruption=None, **options):
    return emulator.run(path.read_bytes(), str(path), address, spec, corruption, **options)


def assert_entered(result):
    assert result.outcome == emulator.ENTERED, result.message
    assert result.passed
    assert result.registers["rip"] == result.rip
    for name in GENERAL_REGISTERS:
        assert result.registers[name] == result.expected_registers[name], name


def pages(size):
    return (size + 0xfff) & ~0xfff


@pytest.mark.parametrize("model", CODE_MODELS)
@pytest.mark.parametrize("where", ["low", "below 4 GiB", "above 4 GiB", "above 2^40", "top"])
def test_purgatory_enters_the_kernel_wherever_the_kernel_places_it(built, model, where):
    path = built(model) / "purgatory.ro"
    size = pages(len(emulator.loader.load(path.read_bytes(), "p", 0x3000).image))
    address = {"low": 0x3000, "below 4 GiB": FOUR_GIB - size,
               "above 4 GiB": FOUR_GIB + 0x1000, "above 2^40": (1 << 40) + 0x7000,
               "top": IDENTITY_MAP_LIMIT - size}[where]
    if address >= REACH:
        with pytest.raises(UserError) as refused:
            run(path, address)
        assert str(refused.value) == f"{path}: the purgatory at {address:#x}: {UNREACHABLE}"
        return
    result = run(path, address)
    assert_entered(result)
    assert result.address == address


@pytest.mark.parametrize("model", CODE_MODELS)
@RUN_SETTINGS
@given(page=st.integers(min_value=3, max_value=HIGHEST_TESTED >> 12))
def test_purgatory_enters_the_kernel_at_any_page_aligned_address(built, model, page):
    assert_entered(run(built(model) / "purgatory.ro", page << 12))


@pytest.mark.parametrize("model", CODE_MODELS)
@RUN_SETTINGS
@given(data=st.data())
def test_a_single_flipped_byte_in_any_region_never_reaches_the_entry(built, model, data):
    spec = segments.parse_spec(SMALL_SEGMENTS)
    segment = data.draw(st.sampled_from(spec))
    offset = data.draw(st.integers(0, segment.size - 1))
    mask = data.draw(st.integers(1, 255))
    address = data.draw(st.integers(3, HIGHEST_TESTED >> 12)) << 12
    result = run(built(model) / "purgatory.ro", address, SMALL_SEGMENTS,
                 (segment.name, offset, mask))
    assert result.outcome == emulator.REFUSED, result.message
    assert result.message.startswith("refused: digest mismatch")
    assert result.passed


def test_entry_from_e_entry_is_the_same_for_a_single_text_section(built):
    path = built("large") / "purgatory.ro"
    by_symbol = run(path, spec="kernel=4K")
    by_e_entry = run(path, spec="kernel=4K", entry_from="e_entry")
    assert_entered(by_e_entry)
    assert by_e_entry.entry_source == "e_entry in .text"
    assert by_e_entry.entry == by_symbol.entry


def test_one_region(built):
    result = run(built("pic") / "purgatory.ro", spec="kernel=4K")
    assert_entered(result)
    assert [r["length"] for r in result.regions] == [4096]


def test_sixteen_regions_with_zero_length_ones_in_between(built):
    names = [f"r{i}" for i in range(14)]
    spec = ",".join(["kernel=5000", "boot_params=4K"] + [
        f"{name}={0 if i % 2 else 1 + 97 * i}" for i, name in enumerate(names)])
    result = run(built("pic") / "purgatory.ro", spec=spec)
    assert_entered(result)
    assert len(result.regions) == 16
    assert sum(1 for r in result.regions if r["length"] == 0) == 7


def test_regions_at_unaligned_addresses_sharing_a_page(built):
    spec = "kernel=4K,boot_params=4K,a=13@0x2000003,b=99@0x2000011,c=1@0x20000ff"
    result = run(built("pic") / "purgatory.ro", spec=spec)
    assert_entered(result)
    assert [r["start"] for r in result.regions[2:]] == [0x2000003, 0x2000011, 0x20000ff]


def test_zero_length_region_is_skipped_even_at_an_unmapped_address(built):
    spec = "kernel=4K,nothing=0@0x7ffff000000,boot_params=4K"
    assert_entered(run(built("pic") / "purgatory.ro", spec=spec))


def test_empty_region_table_checks_the_digest_of_nothing(built):
    result = run(built("large") / "purgatory.ro", spec="none")
    assert_entered(result)
    assert result.regions == []
    assert result.digest == hashlib.sha256(b"").hexdigest()
    assert result.bytes_hashed == 0 and result.instructions_per_byte is None


def test_instruction_count_is_deterministic_and_grows_with_the_bytes_hashed(built):
    path = built("pic") / "purgatory.ro"
    small = run(path, spec="kernel=4K")
    again = run(path, HIGH, spec="kernel=4K")
    large = run(path, spec="kernel=64K")
    assert small.instructions == again.instructions > 0
    assert large.instructions > small.instructions
    assert large.instructions_per_byte < small.instructions_per_byte


def test_a_purgatory_that_does_not_check_the_digest_fails_on_corruption(tmp_path):
    stub = elf_objects.abi_stub(tmp_path)
    assert_entered(run(stub))
    result = run(stub, corruption=("kernel", 0x10))
    assert result.outcome == emulator.ENTERED
    assert not result.passed
    assert "although segment kernel was corrupted" in result.message


def test_a_long_loop_that_makes_progress_is_not_taken_for_a_spin(tmp_path):
    result = run(elf_objects.abi_stub(tmp_path, "BUSY_LOOP"))
    assert_entered(result)
    assert result.instructions > 2 * 100000 > emulator.SPIN_INSTRUCTIONS


def test_a_halt_with_interrupts_off_never_enters_so_it_refuses(tmp_path):
    stub = elf_objects.abi_stub(tmp_path, "HALT")
    clean = run(stub)
    assert clean.outcome == emulator.REFUSED and not clean.passed
    assert clean.message.startswith("refused: halted with interrupts off")
    assert run(stub, corruption=("kernel", 0)).passed


def test_a_register_not_loaded_is_named(tmp_path):
    result = run(elf_objects.abi_stub(tmp_path, "FORGET_R15"))
    assert result.outcome == emulator.BAD_REGISTERS and not result.passed
    assert result.mismatched_registers == ["r15"]


def test_a_write_outside_the_image_fails_the_run(tmp_path):
    result = run(elf_objects.abi_stub(tmp_path, "WRITE_OUTSIDE"))
    assert result.outcome == emulator.STRAY_WRITE and not result.passed
    assert f"at {result.regions[0]['start']:#x}, outside its image" in result.message


def test_sse_faults_because_cr4_has_no_osfxsr(tmp_path):
    result = run(elf_objects.abi_stub(tmp_path, "USE_SSE"))
    assert result.outcome == emulator.FAULT and not result.passed
    assert "(pxor xmm0, xmm0)" in result.message


def test_segments_may_not_overlap_the_purgatory(built):
    with pytest.raises(UserError, match="overlaps the purgatory"):
        run(built("pic") / "purgatory.ro", 0x1000000, spec="kernel=4K@0x1000000")


def test_addresses_beyond_the_identity_map_are_refused(built):
    with pytest.raises(UserError, match="end of the identity map"):
        run(built("pic") / "purgatory.ro", IDENTITY_MAP_LIMIT)


def kexec_purgatory_run(*args):
    return kexec_purgatory_cli("run", *args)


def test_run_command_json_is_one_object_with_the_figures(built):
    path = built("pic") / "purgatory.ro"
    result = kexec_purgatory_run(path, "--addr", "1T", "--segments", SMALL_SEGMENTS, "--json")
    address = 1 << 40
    if REACH <= address:
        # Debian 12's Unicorn: one line, exit status 2, the error in the JSON.
        assert result.returncode == 2
        assert json.loads(result.stdout)["error"].endswith(UNREACHABLE)
        assert result.stderr.strip().endswith(UNREACHABLE)
        address = 1 << 32
        result = kexec_purgatory_run(path, "--addr", "4G", "--segments", SMALL_SEGMENTS,
                                     "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] is True and report["outcome"] == "entered"
    assert report["address"] == address
    assert report["bytes_hashed"] == 8192 + 4096 + 100 + 3001
    assert report["instructions_per_byte"] == report["instructions"] / report["bytes_hashed"]
    assert [r["name"] for r in report["regions"]] == ["kernel", "boot_params", "cmdline", "initrd"]


def test_run_command_exit_status_follows_the_verdict(built, tmp_path):
    path = built("pic") / "purgatory.ro"
    corrupt = kexec_purgatory_run(path, "--segments", SMALL_SEGMENTS, "--corrupt", "initrd:3000")
    assert corrupt.returncode == 0, corrupt.stdout
    assert "PASS: refused: digest mismatch" in corrupt.stdout
    failing = kexec_purgatory_run(elf_objects.abi_stub(tmp_path, "FORGET_R15"))
    assert failing.returncode == 1
    assert "FAIL: entered the kernel with wrong registers: r15=" in failing.stdout
    bad = kexec_purgatory_run(path, "--segments", "kernel=4K", "--corrupt", "initrd:1")
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == ["kexec-purgatory: error: --corrupt: no segment named initrd"]


def test_instruction_limit_below_one_is_bad_input_and_suffixes_are_understood(built):
    path = built("pic") / "purgatory.ro"
    for value in ("0", "-5"):
        bad = kexec_purgatory_run(path, f"--max-instructions={value}")
        assert bad.returncode == 2
        assert bad.stderr.startswith("kexec-purgatory: error: --max-instructions: ")
        assert bad.stderr.count("\n") == 1
    short = kexec_purgatory_run(path, "--max-instructions", "1K", "--json")
    assert short.returncode == 1
    assert json.loads(short.stdout)["message"] == \
        "did not reach the kernel entry within 1024 instructions"


# The SHA-256 paths: the CPU model decides what CPUID reports, so the
# dispatch takes the baseline path on qemu64 and the BMI2 one on Haswell
# (no Unicorn model reports SHA-NI; the boot test runs that path).
def run_model(path, cpu, **kwargs):
    """run() under CPU model ``cpu``; None where this Unicorn cannot set the
    model, after checking that it says so (Debian 12's 2.0.1)."""
    if cpu != "baseline" and not CPU_MODELS_WORK:
        with pytest.raises(UserError, match=re.escape(CPU_MODELS_UNSUPPORTED)):
            run(path, cpu=cpu, **kwargs)
        return None
    return run(path, cpu=cpu, **kwargs)


@pytest.mark.parametrize("model", CODE_MODELS)
@pytest.mark.parametrize("cpu, path", [("baseline", "generic"), ("bmi2", "bmi2")])
def test_each_cpu_model_runs_its_sha256_path_to_the_kernel(built, model, cpu, path):
    result = run_model(built(model) / "purgatory.ro", cpu)
    if result is None:
        return
    assert_entered(result)
    assert (result.cpu, result.sha256_path) == (cpu, path)


@pytest.mark.parametrize("cpu, path", [("baseline", "generic"), ("bmi2", "bmi2")])
def test_each_sha256_path_refuses_a_corrupted_segment(built, cpu, path):
    result = run_model(built("pic") / "purgatory.ro", cpu,
                       corruption=("initrd", 3000))
    if result is None:
        return
    assert result.outcome == emulator.REFUSED, result.message
    assert result.sha256_path == path


def test_bmi2_path_runs_fewer_instructions_than_the_baseline(built):
    path = built("pic") / "purgatory.ro"
    if run_model(path, "bmi2") is None:
        return
    baseline, bmi2 = (run(path, cpu=cpu).instructions_per_byte
                      for cpu in ("baseline", "bmi2"))
    assert bmi2 < baseline - 3


def test_generic_build_takes_the_baseline_path_even_with_bmi2(tmp_path):
    from conftest import copy_tree, run_scons
    root = copy_tree(tmp_path / "tree")
    run_scons(root, "SHA256=generic")
    result = run_model(root / "build" / "purgatory.ro", "bmi2")
    if result is None:
        return
    assert_entered(result)
    assert result.sha256_path == "generic"


def test_cpu_models_are_x86_64_only_and_named(built):
    path = built("pic") / "purgatory.ro"
    with pytest.raises(UserError, match="--cpu: unknown CPU model 'sha-ni'"):
        run(path, cpu="sha-ni")
