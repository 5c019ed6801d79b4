# SPDX-License-Identifier: GPL-2.0-only
"""Run a loaded ppc64le purgatory in QEMU's POWER9 up to the new kernel.

Unicorn (2.1.4) cannot run 64-bit little-endian PowerPC: UC_MODE_LITTLE_ENDIAN
is refused for UC_ARCH_PPC, its POWER models ignore MSR writes (SF and LE
stay clear) and fault on ``ld``. Linux's purgatory is also privileged code
(``mfmsr``, ``mtsrr0``/``mtsrr1``, ``rfid`` in trampoline_64.S), which
``qemu-user`` cannot run either (problem state; measured: qemu-ppc64le 7.2
kills a static program at its first mfmsr or mtsrr0 with SIGSEGV). So the
run uses Debian's ``qemu-system-ppc64`` (package qemu-system-ppc): the
``powernv9`` machine, bare metal in hypervisor mode as a PowerNV host runs
its kernel, no firmware, started halted (-S) and driven through its
gdbstub.

The kernel's side, as Linux 6.12 plays it (facts and sources in
abi/ppc64le.py):

- arch/powerpc/kexec/file_load.c, setup_purgatory(): ``purgatory_start``'s
  256 bytes but its first word become the new kernel's first 256 bytes
  (its slave code); ``kernel`` = the kernel segment's address
  (kexec_elf_load()'s lowest load address, elf_64.c, elf64_load()),
  ``dt_offset`` = the FDT segment's;
- file_load_64.c, setup_purgatory_ppc64(): ``backup_start`` (0 unless
  kdump), ``run_at_load`` = 1 for a crash kernel, and ``opal_base`` /
  ``opal_entry`` from /ibm,opal (a PowerNV host has it);
- kernel/kexec_file.c, kexec_calculate_store_digests(): the region table
  and digest, as on every architecture (the purgatory never reads them);
- arch/powerpc/kernel/misc_64.S, kexec_sequence(): the 0x100 bytes at the
  entry copied to physical 0 (the other CPUs wait at 0x60), then the jump
  to the entry in real mode (real_mode(): MSR IR/DR clear; EE and RI
  cleared before), 64-bit, little-endian, hypervisor, with r3 = the boot
  CPU's physical id, r4 = the entry, r5 = 0, lr = the entry, r25 = the
  CPU id and r30 = the entry still in the registers it saved them in.

The run stops at a breakpoint at ``kernel`` (or at any interrupt vector, a
fault). It passes when pc is there with r3 = dt_offset, r4 = kernel, r5 =
0 (else head_64.S takes the Open Firmware path), r8 = opal_base, r9 =
opal_entry and MSR as at entry but for LE, which is free (head_64.S,
__start: FIXUP_ENDIAN runs in either byte order; trampoline_64.S clears it
with ``rfid``), the FDT's
boot_cpuid_phys (byte 28, big-endian) = the boot CPU and the kernel's word
at 0x5c = run_at_load (little-endian), and every segment and the copy at
0 otherwise unchanged. The purgatory checks no digest: a corrupted segment
is entered all the same, and the result says so (``digest_checked`` false).

QEMU runs with a wall-clock deadline and ``-d in_asm,exec,nochain,int``
written to a FIFO that emulate/qemu_trace.py reads: the instruction count,
where the purgatory left its image, the first interrupt. Its log is kept
(and named in the result) when a run fails.
"""

import os
import shutil
import struct
import subprocess
import tempfile
import time

from .. import abi
from ..errors import UserError
from . import segments as seg
from .address_space import AddressSpace, page_align
from .emulator import (BAD_REGISTERS, BASE_INSTRUCTION_LIMIT, ENTERED, FAULT,
                       LIMIT, STRAY_WRITE, judge_registers, new_result)
from ..gdb_remote import Remote, RemoteError
from .qemu_trace import TraceReader

PPC = abi.ppc64le
PAGE_SIZE = PPC.PAGE_SIZE
QEMU = "qemu-system-ppc64"
QEMU_PACKAGE = "qemu-system-ppc"
MACHINE = "powernv9"
# QEMU keeps 3 dirty bits per 4 KiB page of guest RAM and sets them all at
# start: 96 MiB for 1 TiB. Above that the run would cost gigabytes.
MEMORY_LIMIT = 1 << 40
MEMORY_GRANULE = 1 << 30            # powernv's smallest RAM size
WALL_TIMEOUT = 60.0                 # seconds; Kbuild's purgatory needs < 1

DEFAULT_SPEC = "kernel=64K,initrd=32K,fdt=4K"
FDT = "fdt"
BACKUP = "backup"
BACKUP_SIZE = PPC.BACKUP_SRC_SIZE
OLD_MEMORY = "old kernel memory"
BOOT_CPU = 8                        # not 0: a purgatory zeroing r3 is caught
# What /ibm,opal would say (skiboot's usual base); distinct values.
OPAL_BASE = 0x30000000
OPAL_ENTRY = 0x30000000 + 0x1a2c0
# Below MIN_LOAD_ADDRESS: the slave code copied to 0 and the vectors.
LOW_MEMORY = PPC.MIN_LOAD_ADDRESS

MSR_SF, MSR_LE = PPC.MSR_SF, PPC.MSR_LE
ENTRY_MSR = PPC.ENTRY_MSR
KERNEL_MSR = ENTRY_MSR & ~MSR_LE

# QEMU's gdbstub numbering for ppc64 (gdb's power64-core.xml).
GPR = {f"r{n}": n for n in range(32)}
SPECIAL = {"pc": 0x40, "msr": 0x41, "lr": 0x43, "ctr": 0x44}

# Book III-S interrupt vectors (real mode, HV: at 0 + offset).
VECTORS = {0x100: "system reset", 0x200: "machine check", 0x300: "data storage",
           0x380: "data segment", 0x400: "instruction storage",
           0x480: "instruction segment", 0x500: "external", 0x600: "alignment",
           0x700: "program", 0x800: "floating-point unavailable",
           0x900: "decrementer", 0x980: "hypervisor decrementer",
           0xa00: "doorbell", 0xc00: "system call", 0xd00: "trace",
           0xe00: "hypervisor data storage", 0xe20: "hypervisor instruction storage",
           0xe40: "hypervisor emulation assistance", 0xe60: "hypervisor maintenance",
           0xe80: "hypervisor doorbell", 0xea0: "hypervisor virtualization",
           0xf00: "performance monitor", 0xf20: "vector unavailable",
           0xf40: "VSX unavailable", 0xf60: "facility unavailable",
           0xf80: "hypervisor facility unavailable"}

# The handover checked besides registers: pseudo-register names.
FDT_BOOT_CPU = "fdt_boot_cpuid_phys"
RUN_AT_LOAD_WORD = "kernel_0x5c"
FDT_BOOT_CPU_OFFSET = PPC.FDT_BOOT_CPU_OFFSET


def qemu_available():
    return shutil.which(QEMU) is not None


def refused():
    """Why a ppc64le purgatory cannot run here (no QEMU), or None: the
    build's RUN gate then says so and goes on."""
    if qemu_available():
        return None
    return (f"running a ppc64le purgatory needs {QEMU} (Debian package "
            f"{QEMU_PACKAGE}): Unicorn cannot run 64-bit little-endian PowerPC")


def fdt_header(size):
    """A flattened device tree header (version 17), as the FDT segment
    starts (of_kexec_alloc_and_setup_fdt() builds a real one)."""
    return struct.pack(">10I", 0xd00dfeed, size, 0x38, 0x38, 0x28, 17, 16, 0, 0, 0)


def entry_registers(entry):
    """kexec_sequence(): r3 = CPU, r4 = entry, r5 = 0, lr = entry; r25 and
    r30 hold the CPU and the entry; the rest is left over (distinct)."""
    values = {name: 0x8badf00d00000000 | (n + 1) << 24 | (n + 1) * 0x010101
              for name, n in GPR.items()}
    values.update(r3=BOOT_CPU, r4=entry, r5=0, r25=BOOT_CPU, r30=entry,
                  lr=entry, pc=entry)
    return values


def _kernel_side(loaded, segments, space, backup):
    """Fill the purgatory's words and the segments as the kernel does
    (``backup``: the kdump backup segment, or None); returns the kernel
    entry, the FDT address, pages standing for missing ones, the digest and
    the word the purgatory must leave at kernel + 0x5c."""
    standins = []
    kernel = seg.find(segments, seg.KERNEL)
    if kernel is None:
        address = space.allocate(PAGE_SIZE, "the page standing for the kernel",
                                 seg.AUTO_PLACEMENT_BASE)
        standins.append((address, bytes(PAGE_SIZE)))
        kernel_entry, slave_code = address, bytes(PPC.SLAVE_CODE_SIZE)
    else:
        kernel_entry, slave_code = kernel.address, kernel.head(PPC.SLAVE_CODE_SIZE)
    fdt = seg.find(segments, FDT)
    if fdt is None:
        address = space.allocate(PAGE_SIZE, "the page standing for the FDT",
                                 seg.AUTO_PLACEMENT_BASE)
        standins.append((address, fdt_header(PAGE_SIZE) + bytes(PAGE_SIZE - 40)))
        fdt_address = address
    else:
        header = fdt_header(fdt.size)[:fdt.size]
        fdt.patches.append((0, header))
        fdt_address = fdt.address
    start = loaded.get_symbol(PPC.ENTRY_SYMBOL, PPC.SLAVE_CODE_SIZE)
    slave_code = slave_code.ljust(PPC.SLAVE_CODE_SIZE, b"\0")
    loaded.set_symbol(PPC.ENTRY_SYMBOL, start[:4] + slave_code[4:])
    words = {PPC.KERNEL_SYMBOL: kernel_entry, PPC.DT_SYMBOL: fdt_address,
             PPC.BACKUP_SYMBOL: backup.address if backup else 0,
             PPC.OPAL_BASE_SYMBOL: OPAL_BASE, PPC.OPAL_ENTRY_SYMBOL: OPAL_ENTRY}
    for name, value in words.items():
        loaded.set_symbol(name, struct.pack("<Q", value))
    if backup:
        # setup_purgatory_ppc64(), after setup_purgatory(): run_at_load = 1.
        loaded.set_symbol(PPC.RUN_AT_LOAD_SYMBOL, struct.pack("<I", 1))
    digest = seg.digest(segments)
    loaded.set_symbol(PPC.REGIONS_SYMBOL, seg.region_table(segments, PPC))
    loaded.set_symbol(PPC.DIGEST_SYMBOL, digest)
    # run_at_load lies in purgatory_start, now the kernel's own bytes: the
    # purgatory writes back the kernel's word at 0x5c (1 for kdump).
    run_at_load = int.from_bytes(loaded.get_symbol(PPC.RUN_AT_LOAD_SYMBOL, 4), "little")
    return kernel_entry, fdt_address, standins, digest, run_at_load


def _memory_size(blobs):
    end = max(address + len(data) for address, data in blobs)
    return max(MEMORY_GRANULE, page_align(end, MEMORY_GRANULE))


def _qemu_command(memory, socket_name, log_fifo):
    return [QEMU, "-M", f"{MACHINE},memory-backend=ram",
            "-object", f"memory-backend-ram,id=ram,size={memory},reserve=off",
            "-m", f"{memory // (1 << 20)}M", "-bios", "/dev/null",
            "-nodefaults", "-display", "none", "-serial", "none",
            "-monitor", "none", "-S",
            "-chardev", f"socket,path={socket_name},abstract=on,server=on,wait=off,id=gdb0",
            "-gdb", "chardev:gdb0",
            "-d", "in_asm,exec,nochain,int", "-D", log_fifo]


class _Guest:
    """QEMU, its gdbstub and its log, torn down whatever happens."""

    def __init__(self, memory, image, limit):
        self.dir = tempfile.mkdtemp(prefix="kexec-purgatory-ppc64le-")
        # An abstract Unix socket: a path under a deep $TMPDIR can exceed
        # sun_path's 108 bytes.
        socket_name = f"kexec-purgatory-gdb-{os.path.basename(self.dir)}"
        fifo = os.path.join(self.dir, "qemu.fifo")
        os.mkfifo(fifo)
        self.trace = TraceReader(fifo, os.path.join(self.dir, "qemu.log"), image, limit)
        self.trace.start()
        command = _qemu_command(memory, socket_name, fifo)
        with open(os.path.join(self.dir, "command"), "w") as out:
            out.write(" ".join(command) + "\n")
        self.stderr = open(os.path.join(self.dir, "qemu.stderr"), "w")
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                            stdout=self.stderr, stderr=self.stderr)
        except OSError as error:
            self.stderr.close()
            self._unblock_reader(fifo)
            shutil.rmtree(self.dir, ignore_errors=True)
            raise UserError(f"cannot start {QEMU} ({error}): install Debian's "
                            f"{QEMU_PACKAGE}") from None
        self.fifo = fifo
        self.little_endian = False
        try:
            self.gdb = Remote("\0" + socket_name)
            self.gdb.load_target_description()
        except RemoteError as error:
            self.close()
            raise UserError(f"{QEMU} did not start: {error}; see "
                            f"{self.dir}/qemu.stderr") from None

    @staticmethod
    def _unblock_reader(fifo):
        """A reader waiting for QEMU to open the FIFO: open it ourselves."""
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass

    def write_register(self, name, value):
        number = GPR.get(name, SPECIAL.get(name))
        order = "little" if self.little_endian else "big"
        self.gdb.write_register(number, value.to_bytes(8, order))

    def read_register(self, name):
        number = GPR.get(name, SPECIAL.get(name))
        return int.from_bytes(self.gdb.read_register(number),
                              "little" if self.little_endian else "big")

    def read_msr(self):
        """QEMU sends registers in the guest's current byte order: MSR SF
        (always set in 64-bit mode) says which."""
        raw = self.gdb.read_register(SPECIAL["msr"])
        self.little_endian = not int.from_bytes(raw, "big") & MSR_SF
        return int.from_bytes(raw, "little" if self.little_endian else "big")

    def close(self):
        """Stop QEMU, let the log reader finish; True if QEMU exited."""
        gdb = getattr(self, "gdb", None)
        if gdb is not None:
            gdb.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.stderr.close()
        self.trace.drain.set()
        self._unblock_reader(self.fifo)
        self.trace.join(30)


def _run_guest(guest, blobs, registers, stops, result, deadline):
    """Load, set the CPU, run to a breakpoint; the stop address or None."""
    gdb = guest.gdb
    for address, data in blobs:
        gdb.write_memory(address, bytes(data))
    for name, value in registers.items():
        guest.write_register(name, value)
    guest.write_register("msr", ENTRY_MSR)      # last: it switches byte order
    guest.read_msr()
    for address in stops:
        gdb.breakpoint(address, 4)
    gdb.resume()
    while True:
        if gdb.wait_stop(0.01) is not None:
            guest.read_msr()
            return guest.read_register("pc")
        if guest.trace.over_limit.is_set():
            gdb.interrupt(then=guest.trace.drain.set)
            result.outcome, result.message = LIMIT, (
                f"did not reach the kernel entry within {guest.trace.limit} "
                "instructions")
            return None
        if time.monotonic() > deadline:
            gdb.interrupt()
            result.outcome, result.message = LIMIT, (
                f"did not reach the kernel entry within {WALL_TIMEOUT:.0f} s")
            return None


def _handover(guest, fdt_address, kernel_entry):
    """The two words trampoline_64.S writes for the new kernel."""
    cpu = guest.gdb.read_memory(fdt_address + FDT_BOOT_CPU_OFFSET, 4)
    word = guest.gdb.read_memory(kernel_entry + PPC.RUN_AT_LOAD_OFFSET, 4)
    return {FDT_BOOT_CPU: int.from_bytes(cpu, "big"),
            RUN_AT_LOAD_WORD: int.from_bytes(word, "little")}


def _stray_write(guest, checked, allowed):
    """The first byte of ``checked`` (address, bytes) that changed outside
    the ``allowed`` (start, end) ranges, as a message, or None."""
    for address, data in checked:
        now = guest.gdb.read_memory(address, len(data))
        for offset, (old, new) in enumerate(zip(data, now)):
            at = address + offset
            if old != new and not any(s <= at < e for s, e in allowed):
                return f"wrote at {at:#x} ({old:#04x} became {new:#04x}), outside its image"
    return None


def run_crash(loaded, spec, corruption, max_instructions):
    """kdump: as ``run``, with the backup segment and run_at_load = 1 the
    kernel sets for a crash kernel (file_load_64.c, load_backup_segment()
    and setup_purgatory_ppc64()); the purgatory must copy the first 64 KiB
    into the backup segment (trampoline_64.S)."""
    return run(loaded, spec, corruption, max_instructions, crash=True)


def _backup_segment(segments):
    """load_crashdump_segments_ppc64() adds, after the kernel, a segment of
    BACKUP_SRC_SIZE zero bytes (a vzalloc()ed dummy source) that the
    purgatory fills with the first 64 KiB."""
    backup = seg.find(segments, BACKUP)
    if backup is None:
        backup = seg.Segment(BACKUP, BACKUP_SIZE)
        at = 1 if segments and segments[0].name == seg.KERNEL else 0
        segments.insert(at, backup)
    if backup.size != BACKUP_SIZE:
        raise UserError(f"segment {BACKUP}: {backup.size} bytes, the kernel's "
                        f"is BACKUP_SRC_SIZE ({BACKUP_SIZE})")
    return backup


def run(loaded, spec, corruption, max_instructions, crash=False):
    """The purgatory ``loaded`` against the segments of ``spec`` (the x86
    default SPEC stands for ppc64le's), in the state kexec_sequence()
    leaves, up to the new kernel; ``crash``: a crash kernel's."""
    reason = refused()
    if reason:
        raise UserError(f"{loaded.name}: {reason}")
    if spec == seg.DEFAULT_SPEC:
        spec = DEFAULT_SPEC
    space = AddressSpace(MEMORY_LIMIT, PAGE_SIZE,
                         f"the most guest RAM a run gives QEMU "
                         f"({MEMORY_LIMIT >> 40} TiB)")
    space.reserve(0, LOW_MEMORY, "the slave code copied to 0 and the interrupt vectors")
    space.reserve(loaded.address, page_align(len(loaded.image), PAGE_SIZE),
                  f"the purgatory {loaded.name}")
    segments = seg.parse_spec(spec) if isinstance(spec, str) else spec
    backup = _backup_segment(segments) if crash else None
    seg.place(segments, space)
    if backup:
        backup.patches.append((0, bytes(backup.size)))
    kernel_entry, fdt_address, standins, digest, run_at_load = _kernel_side(
        loaded, segments, space, backup)
    if corruption:
        seg.corrupt(segments, *corruption)
    registers = entry_registers(loaded.entry)
    expected = {name: registers[name] for name in GPR}
    expected.update(r3=fdt_address, r4=kernel_entry, r5=0, r8=OPAL_BASE,
                    r9=OPAL_ENTRY, msr=KERNEL_MSR)
    expected[FDT_BOOT_CPU] = BOOT_CPU
    expected[RUN_AT_LOAD_WORD] = run_at_load
    result = new_result(loaded, segments, digest, corruption, kernel_entry, expected)
    result.digest_checked = PPC.CHECKS_DIGEST
    # kexec_sequence() copied the 0x100 bytes at the entry to 0; above
    # them, what the old kernel had there (deterministic bytes).
    low_memory = (bytes(loaded.image[loaded.entry - loaded.address:][:0x100])
                  + seg.contents(OLD_MEMORY, LOW_MEMORY - 0x100))
    blobs = [(loaded.address, loaded.image), (0, low_memory)]
    blobs += [(s.address, s.whole()) for s in segments if s.size] + standins
    if max_instructions is None:
        max_instructions = BASE_INSTRUCTION_LIMIT
    guest = _Guest(_memory_size(blobs), (loaded.address, loaded.end), max_instructions)
    passed = False
    try:
        stop = _run_guest(guest, blobs, registers,
                          [kernel_entry, *VECTORS], result,
                          time.monotonic() + WALL_TIMEOUT)
        actual = {name: guest.read_register(name) for name in GPR}
        actual.update(pc=guest.read_register("pc"), msr=guest.read_msr())
        result.registers = actual
        if stop is not None:
            passed = _judge(guest, result, stop, fdt_address, kernel_entry,
                            blobs[1:], backup and (backup, low_memory))
    except RemoteError as error:
        result.outcome, result.message = FAULT, f"fault: QEMU's gdbstub: {error}"
    finally:
        guest.close()
    result.instructions = guest.trace.instructions
    if guest.trace.left is None and result.outcome == ENTERED:
        guest.trace.left_for(kernel_entry)
    _where_it_jumped(result, guest.trace)
    if passed and result.passed:
        shutil.rmtree(guest.dir, ignore_errors=True)
    else:
        result.log = guest.dir
        result.message += f" (QEMU's log: {guest.dir})"
    return result


def _judge(guest, result, stop, fdt_address, kernel_entry, checked, backup):
    if stop in VECTORS:
        result.outcome = FAULT
        result.message = f"fault: {VECTORS[stop]} interrupt (vector {stop:#x})"
        if guest.trace.interrupt:
            result.message += f": QEMU: {guest.trace.interrupt}"
        return False
    result.registers.update(_handover(guest, fdt_address, kernel_entry))
    allowed = [(fdt_address + FDT_BOOT_CPU_OFFSET, fdt_address + FDT_BOOT_CPU_OFFSET + 4),
               (kernel_entry + PPC.RUN_AT_LOAD_OFFSET,
                kernel_entry + PPC.RUN_AT_LOAD_OFFSET + 4)]
    if backup:
        segment, low_memory = backup
        allowed.append((segment.address, segment.end))
        copied = guest.gdb.read_memory(segment.address, segment.size)
        if copied != low_memory[:segment.size]:
            result.outcome, result.message = FAULT, (
                f"the backup segment at {segment.address:#x} does not hold the "
                f"first {segment.size:#x} bytes of memory (trampoline_64.S "
                "copies them there for the crash kernel)")
            return False
    stray = _stray_write(guest, checked, allowed)
    if stray:
        result.outcome, result.message = STRAY_WRITE, stray
        return False
    # head_64.S, __start: FIXUP_ENDIAN runs in either byte order, so MSR
    # LE is free; everything else as at entry (real mode, HV, EE clear).
    msr = result.registers["msr"]
    result.expected_registers["msr"] = KERNEL_MSR | (msr & MSR_LE)
    judge_registers(result, result.registers,
                    ("r3", "r4", "r5", "r8", "r9", "msr", FDT_BOOT_CPU, RUN_AT_LOAD_WORD),
                    "r3 (FDT), r4 (kernel), r5, r8/r9 (OPAL), MSR, the FDT's "
                    "boot CPU and run_at_load as set, "
                    + ("little-endian" if msr & MSR_LE else "big-endian"))
    if backup and result.outcome == ENTERED:
        result.message += (f", the first {BACKUP_SIZE // 1024} KiB copied to the "
                           f"backup segment at {backup[0].address:#x}")
    if result.corrupted and result.outcome == ENTERED:
        result.message += ": powerpc's purgatory checks no digest"
    return result.outcome == ENTERED


def _where_it_jumped(result, trace):
    """Name where the purgatory left its image (the issue's "on powerpc,
    where it jumps")."""
    result.left_image = None
    if trace.left is not None:
        address, instruction, target = trace.left
        result.left_image = {"from": address, "instruction": instruction, "to": target}
        result.message += (f"; it left its image at {address:#x} "
                           f"({instruction}) for {target:#x}")
    if result.outcome in (BAD_REGISTERS, FAULT, LIMIT, STRAY_WRITE) and "pc" in result.registers:
        result.message += f"; stopped at pc {result.registers['pc']:#x}"
