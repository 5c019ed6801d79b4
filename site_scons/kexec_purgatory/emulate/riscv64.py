# SPDX-License-Identifier: GPL-2.0-only
"""Run a loaded riscv64 purgatory in Unicorn's RISCV64 CPU, as the kernel
leaves the hart, up to the new kernel's entry.

The kernel's side (see ``abi.riscv64``): the segments hashed into
``purgatory_sha_regions``/``purgatory_sha256_digest`` (kernel/kexec_file.c,
kexec_calculate_store_digests()), ``riscv_kernel_entry`` = the new kernel's
entry (arch/riscv/kernel/machine_kexec_file.c, load_extra_segments()), and
the registers riscv_kexec_relocate/riscv_kexec_norelocate
(arch/riscv/kernel/kexec_relocate.S) jump with: a0 = hart id, a1 = the FDT,
a2 = the purgatory's entry, a3-a7, s0-s11 and t0-t6 zero, ra/sp/gp/tp left
over. Physical addressing (satp = 0); FS and VS Off, so F/D/V instructions
trap as they would there. The purgatory passes when it reaches
``riscv_kernel_entry`` with a0 and a1 as the kernel set them
(arch/riscv/purgatory/entry.S: the next kernel's boot protocol), without a
fault and without writing outside its image; with a corrupted segment it
must spin (purgatory.c, purgatory(): ``for (;;);``) instead.

Instructions are counted per translation block from RISC-V's instruction
lengths (the low two bits of each), so no decoder is needed.
"""

import unicorn
from unicorn import (UC_ARCH_RISCV, UC_HOOK_BLOCK, UC_HOOK_INTR,
                     UC_HOOK_MEM_INVALID, UC_HOOK_MEM_WRITE, UC_MODE_RISCV64,
                     Uc, UcError)
from unicorn import riscv_const as rc

from .. import abi
from . import segments as seg
from .address_space import AddressSpace, page_align
from .emulator import (ACCESS_NAMES, BASE_INSTRUCTION_LIMIT, FAULT,
                       INSTRUCTIONS_PER_BYTE_LIMIT, LIMIT, REFUSED,
                       STRAY_WRITE, RunResult, judge_registers)

RV = abi.riscv64
PAGE_SIZE = RV.PAGE_SIZE
# The segments of a riscv kexec_file load (arch/riscv/kernel/kexec_elf.c and
# load_extra_segments()): the kernel, an initrd, the FDT (a1).
DEFAULT_SPEC = "kernel=64K,initrd=32K,fdt=4K"
FDT = "fdt"
HART_ID = 3                 # not 0: a purgatory that zeroes a0 is caught

GENERAL_REGISTERS = ("ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1",
                     "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "s2",
                     "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
                     "t3", "t4", "t5", "t6")
UC_REGISTER = {name: getattr(rc, f"UC_RISCV_REG_{name.upper()}")
               for name in GENERAL_REGISTERS}
# Unicorn before 2.1 (Debian 12's 2.0.1) calls no interrupt hook for a
# trap: emu_start fails with an error of its own at the trapping pc, and
# the cause is not known.
TRAP_CAUSES = tuple(map(int, unicorn.__version__.split(".")[:2])) >= (2, 1)
# mstatus.FS (bits 13-14) and VS (9-10): Off.
MSTATUS_FS_VS = 3 << 13 | 3 << 9
# Causes (the privileged spec's mcause), for messages.
CAUSES = {0: "instruction address misaligned", 1: "instruction access fault",
          2: "illegal instruction", 3: "breakpoint", 4: "load address misaligned",
          5: "load access fault", 6: "store address misaligned",
          7: "store access fault", 8: "ecall"}
# A block entered this many times in a row with the same registers is a
# loop that never ends (purgatory(): "for (;;);" is a single "j .").
SPIN_REPEATS = 1000


def entry_registers(fdt):
    """What riscv_kexec_relocate leaves: a0 hart id, a1 FDT, a2 the entry
    (set by the caller), the rest zero but ra/sp/gp/tp, which hold what
    the old kernel had there (distinct values here)."""
    registers = dict.fromkeys(GENERAL_REGISTERS, 0)
    registers.update(a0=HART_ID, a1=fdt, ra=0xdeadbeef00001111,
                     sp=0xdeadbeef00002222, gp=0xdeadbeef00003333,
                     tp=0xdeadbeef00004444)
    return registers


def instruction_count(code):
    count = pos = 0
    while pos + 1 < len(code):
        pos += 4 if code[pos] & 3 == 3 else 2
        count += 1
    return count


class _Watch:
    """Instruction count, spin, stray writes, faults."""

    def __init__(self, uc, result, image_start, image_end, limit):
        self.uc, self.result, self.limit = uc, result, limit
        self.blocks = {}
        self.last = None            # (address, registers)
        self.repeats = 0
        self.stopped = False
        uc.hook_add(UC_HOOK_BLOCK, self.on_block)
        if image_start:
            uc.hook_add(UC_HOOK_MEM_WRITE, self.on_stray_write, begin=0,
                        end=image_start - 1)
        uc.hook_add(UC_HOOK_MEM_WRITE, self.on_stray_write, begin=image_end,
                    end=(1 << 64) - 1)
        uc.hook_add(UC_HOOK_MEM_INVALID, self.on_invalid_access)
        uc.hook_add(UC_HOOK_INTR, self.on_exception)

    def pc(self):
        return self.uc.reg_read(rc.UC_RISCV_REG_PC)

    def stop(self, outcome, message):
        if not self.stopped:
            self.stopped = True
            self.result.outcome, self.result.message = outcome, message
        self.uc.emu_stop()

    def on_block(self, uc, address, size, _user_data):
        if address == self.result.rip:
            return
        count = self.blocks.get((address, size))
        if count is None:
            count = instruction_count(bytes(uc.mem_read(address, size)))
            self.blocks[address, size] = count
        self.result.instructions += count
        state = (address, tuple(uc.reg_read(r) for r in UC_REGISTER.values()))
        if state == self.last:
            self.repeats += 1
            if self.repeats >= SPIN_REPEATS:
                self.stop(REFUSED, f"refused: digest mismatch (spins at {address:#x})")
        else:
            self.last, self.repeats = state, 0
        if not self.stopped and self.result.instructions > self.limit:
            self.stop(LIMIT, f"did not reach the kernel entry within "
                      f"{self.limit} instructions")

    def on_stray_write(self, uc, _access, address, size, _value, _user_data):
        self.stop(STRAY_WRITE, f"wrote {size} bytes at {address:#x}, outside "
                  f"its image, from pc {self.pc():#x}")

    def on_invalid_access(self, uc, access, address, _size, _value, _user_data):
        self.stop(FAULT, f"fault: {ACCESS_NAMES.get(access, 'access')} of "
                  f"unmapped memory at {address:#x} from pc {self.pc():#x}")
        return False

    def on_exception(self, uc, number, _user_data):
        # Unicorn calls this before mepc is set, and pc has moved on: name
        # the translation block the trap came from.
        block = self.last[0] if self.last else self.pc()
        self.stop(FAULT, f"fault: {CAUSES.get(number, f'exception {number}')} "
                  f"in the block at {block:#x}")


def run(loaded, spec, corruption, max_instructions):
    if spec == seg.DEFAULT_SPEC:
        spec = DEFAULT_SPEC
    space = AddressSpace(RV.PHYSICAL_ADDRESS_LIMIT, PAGE_SIZE)
    space.reserve(loaded.address, page_align(len(loaded.image), PAGE_SIZE),
                  f"the purgatory {loaded.name}")
    segments = seg.parse_spec(spec) if isinstance(spec, str) else spec
    seg.place(segments, space)
    digest = seg.digest(segments)
    kernel = seg.find(segments, seg.KERNEL)
    landing = None
    if kernel:
        kernel_entry = kernel.address
    else:
        landing = kernel_entry = space.allocate(
            PAGE_SIZE, "the page standing for the kernel", seg.AUTO_PLACEMENT_BASE)
    fdt = seg.find(segments, FDT)
    loaded.set_symbol(RV.REGIONS_SYMBOL, seg.region_table(segments))
    loaded.set_symbol(RV.DIGEST_SYMBOL, digest)
    loaded.set_symbol(RV.KERNEL_ENTRY_SYMBOL,
                      kernel_entry.to_bytes(RV.KERNEL_ENTRY_SIZE, "little"))
    registers = entry_registers(fdt.address if fdt else 0xf0f0f0f0f0f0f000)
    registers["a2"] = loaded.entry
    if corruption:
        seg.corrupt(segments, *corruption)
    bytes_hashed = sum(s.size for s in segments)
    result = RunResult(
        file=loaded.name, address=loaded.address, entry=loaded.entry,
        entry_source=loaded.entry_source, image_size=len(loaded.image),
        regions=[{"name": s.name, "start": s.address, "length": s.size}
                 for s in segments],
        bytes_hashed=bytes_hashed, digest=digest.hex(),
        corrupted=dict(zip(("region", "offset", "mask"), (*corruption, 0xff)[:3]))
        if corruption else None,
        rip=kernel_entry,
        expected_registers={name: registers[name]
                            for name in RV.KERNEL_ARGUMENT_REGISTERS})
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    blobs = [(loaded.address, loaded.image)]
    blobs += [(s.address, s) for s in segments if s.size]
    if landing is not None:
        blobs.append((landing, bytes(PAGE_SIZE)))
    seg.map_and_write(uc, blobs, PAGE_SIZE)
    for name, value in registers.items():
        uc.reg_write(UC_REGISTER[name], value)
    uc.reg_write(rc.UC_RISCV_REG_MSTATUS,
                 uc.reg_read(rc.UC_RISCV_REG_MSTATUS) & ~MSTATUS_FS_VS)
    if max_instructions is None:
        max_instructions = BASE_INSTRUCTION_LIMIT + INSTRUCTIONS_PER_BYTE_LIMIT * bytes_hashed
    watch = _Watch(uc, result, loaded.address, loaded.end, max_instructions)
    try:
        uc.emu_start(loaded.entry, kernel_entry)
    except UcError as error:
        if TRAP_CAUSES:
            watch.stop(FAULT, f"fault: {error} at pc {watch.pc():#x}")
        else:
            watch.stop(FAULT, f"fault: a trap or a bad access (Unicorn "
                       f"{unicorn.__version__} says '{error}', not the cause) "
                       f"at pc {watch.pc():#x}")
    result.registers = {name: uc.reg_read(UC_REGISTER[name])
                        for name in GENERAL_REGISTERS}
    result.registers["pc"] = watch.pc()
    if not watch.stopped:
        _judge_arrival(result)
    return result


def _judge_arrival(result):
    actual = result.registers
    if actual["pc"] != result.rip:
        result.outcome = FAULT
        result.message = f"fault: emulation stopped at pc {actual['pc']:#x}"
        return
    judge_registers(result, actual, RV.KERNEL_ARGUMENT_REGISTERS,
                    "a0 (hart id) and a1 (FDT) as set")
