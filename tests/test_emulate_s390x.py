# SPDX-License-Identifier: GPL-2.0-only
"""s390x emulation (emulate/s390x.py): Kbuild's 6.12 purgatory, entered as
relocate_kernel.S enters it, checks the digest and reaches the new kernel
through diag 308 with kernel_entry's PSW at 0; with one flipped byte in a
segment it enters a disabled wait instead."""

import struct

import pytest

import s390x_objects
from conftest import CODE_MODELS
from kexec_purgatory.abi import s390x
from kexec_purgatory.emulate import emulator, segments
from kexec_purgatory.emulate import s390x as emulate_s390x
from kexec_purgatory.errors import UserError

TREE = "6.12-s390x"
# Right after the default 72 KiB kernel at 0 (where kexec_file_add_purgatory
# puts it without an initrd), and at 1 GiB.
ADDRESSES = (0x12000, 0x40000000)


@pytest.fixture(scope="module")
def purgatory(kernel_trees):
    path = kernel_trees.prepared(TREE).kbuild_purgatory_dir / "purgatory.ro"
    return path.read_bytes()


@pytest.mark.parametrize("address", ADDRESSES, ids=hex)
def test_kbuild_purgatory_enters_the_new_kernel(purgatory, address):
    result = emulator.run(purgatory, "purgatory.ro", address)
    assert result.outcome == emulator.ENTERED, result.message
    assert result.passed
    assert result.entry == address and result.entry_source == "purgatory_start"
    assert result.rip == s390x.STARTUP_NORMAL_OFFSET
    assert result.registers["psw"] == 0x0008000080010000
    assert result.registers["subcode"] == 0
    assert result.bytes_hashed == (72 + 32) * 1024
    # sha256 in C with -Os: tens of instructions per byte, measured exactly.
    assert 10 < result.instructions_per_byte < 200


@pytest.mark.parametrize("corruption", [("kernel", 0x20000 - 0x10000 - 1),
                                        ("initrd", 0)], ids=lambda c: c[0])
def test_a_flipped_byte_ends_in_a_disabled_wait(purgatory, corruption):
    result = emulator.run(purgatory, "purgatory.ro", ADDRESSES[0], corruption=corruption)
    assert result.outcome == emulator.REFUSED, result.message
    assert result.passed
    assert "disabled wait" in result.message
    assert result.instructions_per_byte is None


def test_the_region_table_is_big_endian(purgatory):
    from kexec_purgatory.elf import loader
    loaded = loader.load(purgatory, "purgatory.ro", ADDRESSES[0])
    segs = segments.parse_spec("kernel=72K,initrd=4K@0x100000")
    emulate_s390x._place(loaded, segs, "purgatory.ro")
    emulate_s390x._kernel_side(loaded, segs)
    table = loaded.get_symbol(s390x.REGIONS_SYMBOL, s390x.REGIONS_SIZE)
    assert struct.unpack(">4Q", table[:32]) == (0, 72 * 1024, 0x100000, 4096)
    assert table[32:] == bytes(s390x.REGIONS_SIZE - 32)
    assert loaded.get_symbol(s390x.KERNEL_ENTRY_SYMBOL, 8) == (0x10000).to_bytes(8, "big")
    # The restart PSW the kernel writes into the kernel segment's first bytes.
    assert segs[0].head(8) == (0x0008000080000000 + loaded.entry).to_bytes(8, "big")


def test_an_entry_above_2_gib_is_refused(purgatory):
    with pytest.raises(UserError, match="31-bit"):
        emulator.run(purgatory, "purgatory.ro", 1 << 31)


@pytest.mark.skipif(not s390x_objects.available(), reason="no s390x cross toolchain")
def test_a_purgatory_that_branches_without_diag_308_does_not_pass(tmp_path):
    """The stub jumps to kernel_entry directly (no PSW at 0, no reset):
    it runs into the kernel segment's bytes, which is no entry."""
    path = s390x_objects.stub_purgatory(tmp_path)
    if not emulate_s390x.CONTROL_REGISTERS:
        # Debian 12's Unicorn: one line saying why, no run.
        with pytest.raises(UserError) as refused:
            emulator.run(path.read_bytes(), "stub.ro", ADDRESSES[0])
        assert str(refused.value) == f"stub.ro: {emulate_s390x.NO_CONTROL_REGISTERS}"
        return
    result = emulator.run(path.read_bytes(), "stub.ro", ADDRESSES[0],
                          max_instructions=100000)
    assert result.outcome != emulator.ENTERED
    assert not result.passed


# -- kdump (run --crash) --------------------------------------------------------
# head.S's kdump path: kdump_csum_valid() calls the purgatory to verify only,
# then __do_machine_kdump() calls it to swap crash memory with [0, crash_size)
# and start the crash kernel with diag 308 subcode 1.

CRASH_ADDRESS = 0x40000000


def crash_run(purgatory, **kwargs):
    return emulator.run(purgatory, "purgatory.ro", CRASH_ADDRESS, crash=True, **kwargs)


def test_kdump_places_the_crash_segments_before_the_purgatory_in_crash_memory(purgatory):
    result = crash_run(purgatory)
    kernel, initrd = result.regions
    # kexec_image.c: kernel at crashk_res.start; initrd, then the purgatory,
    # each at the page-aligned running total.
    assert kernel["start"] == CRASH_ADDRESS - (72 + 32) * 1024
    assert initrd["start"] == kernel["start"] + 72 * 1024
    assert result.rip == s390x.STARTUP_KDUMP_OFFSET


def test_kdump_of_kbuilds_purgatory_starts_the_crash_kernel_but_loses_a_page_of_the_dump(
        purgatory):
    """Linux 6.12's head.S, .jump_to_dst: "MEMCPY %r12,%r10,%r11 /* (crash)
    buf -> (crash) dst */" copies crash dst into the buffer, the other way:
    the old page the purgatory saved there before copying itself over it
    (crash_size - 8 KiB) never reaches crash memory, where the crash kernel
    reads it (crash_dump.c, copy_oldmem_iter())."""
    result = crash_run(purgatory)
    assert result.registers["psw"] == 0x0008000080010010
    assert result.registers["subcode"] == s390x.DIAG308_LOAD_NORMAL_RESET
    crash_size = 1 << 20
    assert result.lost_old_memory == [(crash_size - 0x2000, crash_size - 0x1000)]
    assert result.outcome == emulate_s390x.DUMP_INCOMPLETE and not result.passed
    assert "but the dump misses old memory 0xfe000..0xff000" in result.message


def test_kdump_with_that_copy_turned_round_keeps_the_whole_dump(purgatory):
    """The same purgatory with .jump_to_dst's two lgr swapped (buffer ->
    crash dst, as the comment says): every old byte is in crash memory."""
    patched = bytearray(purgatory)
    at = 0x1000 + 0x120                 # .text's file offset + .base_dst
    assert patched[at:at + 12] == bytes.fromhex("b904000c b904001b b904002a")
    patched[at:at + 4] = bytes.fromhex("b904000a")
    patched[at + 8:at + 12] = bytes.fromhex("b904002c")
    result = crash_run(bytes(patched))
    assert result.outcome == emulator.ENTERED and result.passed, result.message
    assert result.lost_old_memory == []


@pytest.mark.parametrize("corruption", [("kernel", 0x100), ("initrd", 32 * 1024 - 1)],
                         ids=lambda c: c[0])
def test_kdump_checksum_call_refuses_a_corrupted_crash_kernel(purgatory, corruption):
    result = crash_run(purgatory, corruption=corruption)
    assert result.outcome == emulator.REFUSED and result.passed
    assert "checksum-only call (kdump_csum_valid()) returned 0x1" in result.message
    # .return_old_kernel gave the old kernel back r6-r15 as it called.
    assert result.registers["r14"] == result.registers["pc"]


def test_kdump_crash_memory_must_lie_above_what_it_is_swapped_with(purgatory):
    with pytest.raises(UserError, match="load it higher"):
        emulator.run(purgatory, "purgatory.ro", 0x12000, crash=True)


def test_kdump_segments_are_placed_by_the_kernel_not_at_an_address(purgatory):
    with pytest.raises(UserError, match="segment initrd has an @ADDR"):
        crash_run(purgatory, spec="kernel=72K,initrd=4K@0x100000")


def test_crash_is_refused_in_one_line_where_no_kdump_path_is_emulated(built):
    x86 = built(CODE_MODELS[0]) / "purgatory.ro"
    with pytest.raises(UserError, match=r"--crash: the kdump path is not emulated "
                                        r"for x86_64 \(it is for s390x and ppc64le\)"):
        emulator.run(x86.read_bytes(), "purgatory.ro", crash=True)
