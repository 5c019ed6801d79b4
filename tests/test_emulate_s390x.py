# SPDX-License-Identifier: GPL-2.0-only
"""s390x emulation (emulate/s390x.py): Kbuild's 6.12 purgatory, entered as
relocate_kernel.S enters it, checks the digest and reaches the new kernel
through diag 308 with kernel_entry's PSW at 0; with one flipped byte in a
segment it enters a disabled wait instead."""

import struct

import pytest

import s390x_objects
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
    result = emulator.run(path.read_bytes(), "stub.ro", ADDRESSES[0],
                          max_instructions=100000)
    assert result.outcome != emulator.ENTERED
    assert not result.passed
