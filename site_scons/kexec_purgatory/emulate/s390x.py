# SPDX-License-Identifier: GPL-2.0-only
"""Run a loaded s390x purgatory in Unicorn's s390x CPU up to the new kernel.

The kernel's side, as Linux 6.12 plays it for a normal kexec_file load
(facts and sources in abi/s390x.py):

- the kernel segment lies at 0 (kexec_image.c); its first 8 bytes become
  the restart PSW 0x0008000080000000 + purgatory entry before the digest
  is taken (machine_kexec_file.c, kexec_file_add_components());
- ``purgatory_sha_regions`` and ``purgatory_sha256_digest`` as
  kexec_calculate_store_digests() fills them (big-endian {start, len});
  ``kernel_entry`` = STARTUP_NORMAL_OFFSET (0x10000), ``kernel_type`` =
  KEXEC_TYPE_DEFAULT (kexec_file_update_purgatory());
- entry after relocate_kernel.S's diag 308 clear reset: all general
  registers zero, CR0 at its reset value (no AFP registers, no vector
  facility), DAT and interrupts off, 31-bit addressing. A 31-bit PSW cannot
  hold an address at or above 2 GiB, so the kernel can enter a purgatory
  only below it (it places it right after the kernel and initrd).

Unicorn runs z/Architecture only: head.S's ``sigp SET_ARCHITECTURE`` is
stepped over (condition code 0, as a machine already in z/Architecture
mode answers). The purgatory reaches the new kernel the way head.S's
START_NEXT_KERNEL does: it stores kernel_entry | 0x0008000080000000 at
absolute 0 and issues diag 308 subcode 0. Execution stops at any diag
308: ENTERED when the PSW at 0 and the subcode are those. A purgatory that
finds the digest wrong loads a disabled-wait PSW (lpswe): REFUSED.
"""

import struct

import capstone
import unicorn
from capstone import sysz_const
from unicorn import (UC_ARCH_S390X, UC_HOOK_BLOCK, UC_HOOK_CODE, UC_HOOK_INTR,
                     UC_HOOK_MEM_INVALID, UC_HOOK_MEM_WRITE, UC_MODE_BIG_ENDIAN,
                     Uc, UcError)
from unicorn import s390x_const as s390

from .. import abi
from ..errors import UserError
from . import segments as seg
from .address_space import AddressSpace, page_align
from .emulator import (BASE_INSTRUCTION_LIMIT, ENTERED, FAULT,
                       INSTRUCTIONS_PER_BYTE_LIMIT, LIMIT, REFUSED,
                       STRAY_WRITE, new_result)

S390X = abi.s390x
PAGE_SIZE = S390X.PAGE_SIZE
# The restart PSW's address field is 31 bits wide.
ENTRY_LIMIT = 1 << 31
MEMORY_LIMIT = 1 << 64
GENERAL_REGISTERS = tuple(f"r{n}" for n in range(16))
UC_GPR = {name: getattr(s390, f"UC_S390X_REG_R{name[1:]}") for name in GENERAL_REGISTERS}
CAPSTONE_GPR = {getattr(sysz_const, f"SYSZ_REG_{name[1:]}"): name for name in GENERAL_REGISTERS}
DEFAULT_SPEC = "kernel=72K,initrd=32K"
LOWCORE_PSW = (0, 8)            # head.S: stg %r4,0(%r0)
# z/Architecture PSW mask bit 32 (BA): 31-bit addressing, DAT, I/O and
# external interrupts off.
PSW_MASK_31BIT = 0x0000000080000000
# Unicorn before 2.1 (Debian 12's 2.0.1) has no control registers in its
# API: CR0 cannot be set, and its s390x CPU does not start as the kernel
# leaves it (Kbuild's purgatory faults at once).
CONTROL_REGISTERS = hasattr(s390, "UC_S390X_REG_CR0")
NO_CONTROL_REGISTERS = (
    f"Unicorn {unicorn.__version__} cannot set s390x's control registers "
    "(no UC_S390X_REG_CR0), so it cannot start the CPU as the kernel leaves "
    "it; s390x emulation needs a newer Unicorn (pip install 'unicorn>=2.1')")
# Initial CPU reset value of CR0 (Principles of Operation): AFP-register
# and vector-enablement controls off.
CR0_RESET = 0xE0
PSW_WAIT = 1 << (63 - 14)
DIAG308 = 0x308
# The instructions Unicorn cannot play as the machine would: stepped over,
# or where the purgatory leaves.
INTERCEPTED = ("sigp", "diag", "lpswe", "lpsw")


def _kernel_side(loaded, segments):
    """What kexec_file leaves in the purgatory and the kernel segment."""
    kernel = seg.find(segments, seg.KERNEL)
    if kernel is not None and kernel.address == 0 and kernel.size >= 8:
        restart = S390X.ENTRY_PSW_MASK + loaded.entry
        kernel.patches.append((0, struct.pack(">Q", restart)))
    digest = seg.digest(segments)
    loaded.set_symbol(S390X.REGIONS_SYMBOL, seg.region_table(segments, S390X))
    loaded.set_symbol(S390X.DIGEST_SYMBOL, digest)
    loaded.set_symbol(S390X.KERNEL_ENTRY_SYMBOL,
                      struct.pack(">Q", S390X.STARTUP_NORMAL_OFFSET))
    loaded.set_symbol(S390X.KERNEL_TYPE_SYMBOL,
                      struct.pack(">Q", S390X.KEXEC_TYPE_DEFAULT))
    return digest


def _place(loaded, segments, name):
    if loaded.entry >= ENTRY_LIMIT:
        raise UserError(f"{name}: entry {loaded.entry:#x} is at or above 2 GiB: "
                        "the s390 kernel enters the purgatory through a 31-bit "
                        "PSW (machine_kexec_file.c, relocate_kernel.S), so it "
                        "never places one there")
    space = AddressSpace(MEMORY_LIMIT - PAGE_SIZE, PAGE_SIZE)
    space.reserve(loaded.address, page_align(len(loaded.image), PAGE_SIZE),
                  f"the purgatory {name}")
    kernel = seg.find(segments, seg.KERNEL)
    if kernel is not None and kernel.address is None:
        kernel.address = 0          # kexec_image.c: buf.mem = 0
    if kernel is None or kernel.address != 0:
        space.reserve(0, PAGE_SIZE, "the lowcore")
    seg.place(segments, space)
    return space


class _Run:
    """The CPU, its hooks and the verdict."""

    def __init__(self, loaded, result, blobs, limit, psw_mask=PSW_MASK_31BIT,
                 writable=(LOWCORE_PSW,)):
        self.result = result
        self.limit = limit
        self.writable = [(loaded.address, loaded.end), *writable]
        self.capstone = capstone.Cs(capstone.CS_ARCH_SYSZ, capstone.CS_MODE_BIG_ENDIAN)
        self.block_sizes = {}
        self.stopped = False
        uc = self.uc = Uc(UC_ARCH_S390X, UC_MODE_BIG_ENDIAN)
        seg.map_and_write(uc, blobs, PAGE_SIZE, also=[(0, PAGE_SIZE)])
        for name in GENERAL_REGISTERS:
            uc.reg_write(UC_GPR[name], 0)
        uc.reg_write(s390.UC_S390X_REG_CR0, CR0_RESET)
        uc.reg_write(s390.UC_S390X_REG_PSWM, psw_mask)
        self.intercepted = dict(self._intercepted_instructions(loaded))
        for address in self.intercepted:
            uc.hook_add(UC_HOOK_CODE, self.on_intercepted, begin=address, end=address)
        uc.hook_add(UC_HOOK_BLOCK, self.on_block)
        uc.hook_add(UC_HOOK_MEM_WRITE, self.on_write)
        uc.hook_add(UC_HOOK_MEM_INVALID, self.on_invalid)
        uc.hook_add(UC_HOOK_INTR, self.on_interrupt)

    def _intercepted_instructions(self, loaded):
        md = self.capstone
        md.detail = True
        for placed in loaded.sections.values():
            if not placed.executable or placed.nobits:
                continue
            code = bytes(loaded.image[placed.offset:placed.offset + placed.size])
            pos = 0
            while pos < len(code):
                for insn in md.disasm(code[pos:], placed.address + pos):
                    if insn.mnemonic in INTERCEPTED:
                        yield insn.address, insn
                    pos = insn.address + insn.size - placed.address
                pos += 2            # undecodable halfword: skip it

    def stop(self, outcome, message):
        if not self.stopped:
            self.stopped = True
            self.result.outcome, self.result.message = outcome, message
        self.uc.emu_stop()

    def pc(self):
        return self.uc.reg_read(s390.UC_S390X_REG_PC)

    def registers(self):
        values = {name: self.uc.reg_read(UC_GPR[name]) for name in GENERAL_REGISTERS}
        values["pc"] = self.pc()
        return values

    def on_block(self, uc, address, size, _data):
        count = self.block_sizes.get((address, size))
        if count is None:
            code = bytes(uc.mem_read(address, size))
            count = sum(1 for _ in self.capstone.disasm_lite(code, address))
            self.block_sizes[(address, size)] = count
        self.result.instructions += count
        if self.result.instructions > self.limit:
            self.stop(LIMIT, f"did not reach the kernel entry within "
                      f"{self.limit} instructions")

    def on_intercepted(self, uc, address, size, _data):
        insn = self.intercepted[address]
        if insn.mnemonic == "sigp":
            # Already in z/Architecture mode: order accepted, cc 0.
            uc.reg_write(s390.UC_S390X_REG_PSWM,
                         uc.reg_read(s390.UC_S390X_REG_PSWM) & ~(3 << 44))
            uc.reg_write(s390.UC_S390X_REG_PC, address + insn.size)
        elif insn.mnemonic == "diag" and insn.op_str.endswith(hex(DIAG308)):
            self.on_diag308(insn)
        elif insn.mnemonic in ("lpswe", "lpsw"):
            self.on_load_psw(insn)
        else:
            self.stop(FAULT, f"fault: '{insn.mnemonic} {insn.op_str}' at "
                      f"{address:#x}, a machine call the emulation does not play")

    def on_diag308(self, insn):
        """head.S, START_NEXT_KERNEL: the PSW at 0 and diag 308 subcode."""
        ry = int(insn.op_str.split(",")[1].strip().lstrip("%r"))
        subcode = self.uc.reg_read(UC_GPR[f"r{ry}"]) & 0xffff
        psw = int.from_bytes(self.uc.mem_read(0, 8), "big")
        result = self.result
        result.registers = self.registers()
        result.registers.update(psw=psw, subcode=subcode)
        expected = result.expected_registers
        if psw != expected["psw"] or subcode != expected["subcode"]:
            self.stop(FAULT, f"diag 308 subcode {subcode} with PSW {psw:#018x} at "
                      f"0, not subcode {expected['subcode']} with "
                      f"{expected['psw']:#018x} (the new kernel's entry)")
            return
        message = (f"entered the kernel at {result.rip:#x} (diag 308 subcode "
                   f"{subcode}, PSW {psw:#018x} at 0)")
        if result.corrupted:
            message += f" although segment {result.corrupted['region']} was corrupted"
        self.stop(ENTERED, message)

    def on_load_psw(self, insn):
        """head.S, .disabled_wait: lpswe disabled_wait_psw."""
        operand = insn.operands[0].mem
        base = self.uc.reg_read(UC_GPR[CAPSTONE_GPR[operand.base]]) \
            if operand.base in CAPSTONE_GPR else 0
        address = (base + operand.disp) & (MEMORY_LIMIT - 1)
        try:
            mask = int.from_bytes(self.uc.mem_read(address, 8), "big")
        except UcError:
            mask = 0
        if mask & PSW_WAIT:
            self.stop(REFUSED, f"refused: disabled wait (lpswe at "
                      f"{insn.address:#x}, PSW mask {mask:#018x})")
        else:
            self.stop(FAULT, f"fault: loads a PSW at {insn.address:#x} "
                      f"(mask {mask:#018x}), not the new kernel's entry")

    def on_write(self, uc, _access, address, size, _value, _data):
        if any(start <= address and address + size <= end
               for start, end in self.writable):
            return
        self.stop(STRAY_WRITE, f"wrote {size} bytes at {address:#x}, outside "
                  f"its image, from pc {self.pc():#x}")

    def on_invalid(self, uc, _access, address, _size, _value, _data):
        self.stop(FAULT, f"fault: access to unmapped memory at {address:#x} "
                  f"from pc {self.pc():#x}")
        return False

    def on_interrupt(self, uc, number, _data):
        # Code the purgatory copied elsewhere (head.S's kdump path runs from
        # the end of [0, crash_size)) has no hook: Unicorn raises a program
        # interruption at its diag or lpswe (both 4 bytes long; the PSW
        # points past it), which is played the same way.
        insn = self._decode(self.pc() - 4)
        if insn is not None and insn.mnemonic in INTERCEPTED[1:]:
            self.intercepted[insn.address] = insn
            self.on_intercepted(uc, insn.address, insn.size, None)
            return
        self.stop(FAULT, f"fault: program interruption {number} at pc {self.pc():#x}")

    def _decode(self, address):
        try:
            code = bytes(self.uc.mem_read(address, 6))
        except UcError:
            return None
        return next(self.capstone.disasm(code, address, 1), None)

    def start(self, entry, until=0):
        """Run from ``entry``; True when it got to ``until`` (a return
        address) without stopping otherwise."""
        try:
            self.uc.emu_start(entry, until)
        except UcError as e:
            self.stop(FAULT, f"fault: {e} at pc {self.pc():#x}")
        if not self.stopped and until and self.pc() == until:
            return True
        if not self.stopped:
            self.stop(FAULT, f"fault: emulation stopped at pc {self.pc():#x}")
        if not self.result.registers:
            self.result.registers = self.registers()
        return False


def _segments(spec):
    """The segments of ``spec``; the x86 default SPEC stands for s390's."""
    if spec == seg.DEFAULT_SPEC:
        spec = DEFAULT_SPEC
    return seg.parse_spec(spec) if isinstance(spec, str) else spec


def _diag308_result(loaded, segments, digest, corruption, entry, subcode):
    """Corrupt a segment if asked (after the digest was taken); the result
    of a run that must end in diag 308 ``subcode`` with the PSW for
    ``entry`` at 0 (head.S, START_NEXT_KERNEL)."""
    if corruption:
        seg.corrupt(segments, *corruption)
    return new_result(loaded, segments, digest, corruption, entry,
                      {"psw": S390X.ENTRY_PSW_MASK | entry, "subcode": subcode})


def refused():
    """Why s390x purgatories cannot run here (Debian 12's Unicorn 2.0.1 has
    no control registers), or None: the build's RUN gate then says so and
    goes on."""
    return None if CONTROL_REGISTERS else NO_CONTROL_REGISTERS


def run(loaded, spec, corruption, max_instructions):
    """The purgatory ``loaded`` against the segments of ``spec`` (the x86
    default SPEC stands for s390's), in the state kexec_file leaves."""
    name = loaded.name
    if not CONTROL_REGISTERS:
        raise UserError(f"{name}: {NO_CONTROL_REGISTERS}")
    segments = _segments(spec)
    _place(loaded, segments, name)
    digest = _kernel_side(loaded, segments)
    result = _diag308_result(loaded, segments, digest, corruption,
                             S390X.STARTUP_NORMAL_OFFSET, S390X.DIAG308_CLEAR_RESET)
    bytes_hashed = result.bytes_hashed
    if max_instructions is None:
        max_instructions = BASE_INSTRUCTION_LIMIT + INSTRUCTIONS_PER_BYTE_LIMIT * bytes_hashed
    blobs = [(loaded.address, loaded.image)] + [(s.address, s) for s in segments]
    _Run(loaded, result, blobs, max_instructions).start(loaded.entry)
    return result


# --- kdump ------------------------------------------------------------------
# Crash memory is sized to what the load needs, rounded up to this.
CRASH_GRANULE = 1 << 20
# The old kernel's memory below crash_size: deterministic bytes, so the swap
# can be checked byte for byte.
OLD_MEMORY = "old kernel memory"
# Entered the crash kernel, but crash memory does not hold all of the old
# memory it swapped out: the dump would be wrong (not a pass).
DUMP_INCOMPLETE = "dump-incomplete"
# Registers the purgatory must give back from the checksum-only call
# (head.S saves r6-r15 in gprregs and restores them).
CALLEE_SAVED = tuple(f"r{n}" for n in range(6, 16))


def _crash_layout(loaded, segments, name):
    """Place the segments as kexec_file_add_components() does for a crash
    kernel, ending where the purgatory was loaded; (crash_start, crash_size)."""
    if not segments or segments[0].name != seg.KERNEL:
        raise UserError(f"{name}: --crash: the first segment must be the kernel "
                        "(kexec_image.c puts it at the start of crash memory)")
    fixed = [s.name for s in segments if s.address is not None]
    if fixed:
        raise UserError(f"{name}: --crash: segment {fixed[0]} has an @ADDR, but "
                        "the kernel places every crash segment itself "
                        "(kexec_file_add_components())")
    offsets, total = [], 0
    for segment in segments:
        total = page_align(total, PAGE_SIZE)
        offsets.append(total)
        total += segment.size
    crash_start = loaded.address - page_align(total, PAGE_SIZE)
    crash_size = page_align(loaded.end - crash_start, CRASH_GRANULE)
    if crash_start < crash_size:
        where = f"at {crash_start:#x}" if crash_start >= 0 else "below 0"
        raise UserError(f"{name}: --crash: with the purgatory at "
                        f"{loaded.address:#x} after the segments, crash memory "
                        f"starts {where}, not above the {crash_size:#x} bytes at 0 "
                        "it is swapped with: load it higher")
    for segment, offset in zip(segments, offsets):
        segment.address = crash_start + offset
    return crash_start, crash_size


def _crash_kernel_side(loaded, segments, crash_start, crash_size):
    digest = seg.digest(segments)
    loaded.set_symbol(S390X.REGIONS_SYMBOL, seg.region_table(segments, S390X))
    loaded.set_symbol(S390X.DIGEST_SYMBOL, digest)
    for symbol, value in ((S390X.KERNEL_ENTRY_SYMBOL, S390X.STARTUP_KDUMP_OFFSET),
                          (S390X.KERNEL_TYPE_SYMBOL, S390X.KEXEC_TYPE_CRASH),
                          (S390X.CRASH_START_SYMBOL, crash_start),
                          (S390X.CRASH_SIZE_SYMBOL, crash_size)):
        loaded.set_symbol(symbol, struct.pack(">Q", value))
    return digest


def _call_registers(argument, return_address):
    """call_nodat(1, int, purgatory, int, ARG): r2 = ARG, r14 = the return
    address; the other registers hold what the old kernel left there."""
    values = {name: 0xdeadbeef00000000 | (n + 1) * 0x1111
              for n, name in enumerate(GENERAL_REGISTERS)}
    values.update(r2=argument, r14=return_address)
    return values


def _misplaced_segment(run, segments, crash_start):
    """After the swap each segment lies at its place below crash_size (the
    kernel's first 8 bytes are the PSW head.S stored there): the name of
    the first that does not, or None."""
    for segment in segments:
        place = segment.address - crash_start
        expected = bytearray(segment.whole())
        if place == 0:
            head = min(8, len(expected))
            expected[:head] = bytes(run.uc.mem_read(0, head))
        if bytes(run.uc.mem_read(place, segment.size)) != bytes(expected):
            return segment.name
    return None


def _lost_old_memory(run, crash_start, crash_size, old_memory):
    """The ranges of [0, crash_size) whose old bytes crash memory does not
    hold after the swap (the crash kernel dumps them from there: oldmem_base
    = crash_start, kexec_file_add_components())."""
    dumped = bytes(run.uc.mem_read(crash_start, crash_size))
    lost, start = [], None
    for offset in range(0, crash_size, PAGE_SIZE):
        same = dumped[offset:offset + PAGE_SIZE] == old_memory[offset:offset + PAGE_SIZE]
        if not same and start is None:
            start = offset
        elif same and start is not None:
            lost.append((start, offset))
            start = None
    if start is not None:
        lost.append((start, crash_size))
    return lost


def run_crash(loaded, spec, corruption, max_instructions):
    """kdump as Linux 6.12 plays it on s390 (see abi/s390x.py): the
    checksum-only call, then, if it returned 0, the call that swaps crash
    memory to 0 and starts the crash kernel."""
    segments = _segments(spec)
    crash_start, crash_size = _crash_layout(loaded, segments, loaded.name)
    digest = _crash_kernel_side(loaded, segments, crash_start, crash_size)
    result = _diag308_result(loaded, segments, digest, corruption,
                             S390X.STARTUP_KDUMP_OFFSET,
                             S390X.DIAG308_LOAD_NORMAL_RESET)
    if max_instructions is None:
        max_instructions = (BASE_INSTRUCTION_LIMIT + INSTRUCTIONS_PER_BYTE_LIMIT
                            * (result.bytes_hashed + 2 * crash_size))
    old_memory = seg.contents(OLD_MEMORY, crash_size)
    # A page standing for the old kernel's code the calls return to.
    return_address = page_align(crash_start + crash_size, PAGE_SIZE)
    crash_memory = bytearray(crash_size)
    for blob_address, data in [(loaded.address, loaded.image)] + [
            (s.address, s.whole()) for s in segments]:
        offset = blob_address - crash_start
        crash_memory[offset:offset + len(data)] = data
    blobs = [(0, old_memory), (crash_start, crash_memory),
             (return_address, bytes(PAGE_SIZE))]
    swap_areas = [(0, crash_size), (crash_start, crash_start + crash_size)]
    run = _Run(loaded, result, blobs, max_instructions,
               psw_mask=S390X.KDUMP_CALL_PSW_MASK, writable=())
    # kdump_csum_valid(): verify only, return r2.
    for register, value in _call_registers(S390X.KDUMP_VERIFY_ONLY, return_address).items():
        run.uc.reg_write(UC_GPR[register], value)
    if not run.start(loaded.entry, return_address):
        return result
    returned = run.registers()
    expected = _call_registers(S390X.KDUMP_VERIFY_ONLY, return_address)
    lost = [r for r in CALLEE_SAVED if returned[r] != expected[r]]
    if lost:
        result.registers = returned
        result.outcome, result.message = FAULT, (
            "the checksum-only call returned without restoring "
            + ", ".join(lost))
        return result
    if returned["r2"] != 0:
        result.registers = returned
        result.outcome, result.message = REFUSED, (
            f"refused: the checksum-only call (kdump_csum_valid()) returned "
            f"{returned['r2']:#x}, so the old kernel does not start the crash kernel")
        return result
    # __do_machine_kdump(): swap and start; a return is the end.
    run.writable = swap_areas
    for register, value in _call_registers(S390X.KDUMP_START, return_address).items():
        run.uc.reg_write(UC_GPR[register], value)
    run.uc.reg_write(s390.UC_S390X_REG_PSWM, S390X.KDUMP_CALL_PSW_MASK)
    if run.start(loaded.entry, return_address):
        result.registers = run.registers()
        result.outcome, result.message = FAULT, (
            "the kdump call returned to the old kernel, which then stops in "
            "disabled_wait()")
        return result
    if result.outcome == ENTERED:
        misplaced = _misplaced_segment(run, segments, crash_start)
        if misplaced:
            result.outcome, result.message = FAULT, (
                f"fault: segment {misplaced} is not at its place below "
                f"{crash_size:#x} when the crash kernel starts")
            return result
        result.message += (f", crash memory {crash_start:#x}+{crash_size:#x} "
                           "swapped with 0")
        result.lost_old_memory = _lost_old_memory(run, crash_start, crash_size, old_memory)
        for start, end in result.lost_old_memory:
            result.outcome = DUMP_INCOMPLETE
            result.message += (f"; but the dump misses old memory {start:#x}..{end:#x} "
                               f"(crash memory at {crash_start + start:#x}, where the "
                               "crash kernel reads it, holds other bytes)")
    return result
