# SPDX-License-Identifier: GPL-2.0-only
"""An emulated x86_64 CPU in the state the kernel hands to the purgatory.

When the old kernel jumps into the purgatory the CPU is in 64-bit long mode
with paging on and an identity map, interrupts off, CR4 = PAE only (so SSE,
AVX and friends fault), running on the old kernel's GDT with code selector
0x10 and data selector 0x18. This module builds that machine in Unicorn:

- only the memory that exists (the purgatory, the segments and the machine's
  own pages) is mapped, so any other access faults;
- the identity map is real 4-level page tables (1 GiB pages) in emulated
  memory, pointed to by CR3. Unicorn's own page walker stops at 40 physical
  address bits, so translation goes through Unicorn's virtual TLB with a
  walker written here that reads those same tables; addresses up to 2^46,
  the kernel's limit with 4-level paging, work. A Unicorn without that TLB
  (Debian 12's 2.0.1) walks the same tables itself and reaches 1 TiB only
  (``REACH``, ``UNREACHABLE``);
- the old kernel's GDT and a stack page of its own live in the machine's
  pages, outside the purgatory.
"""

import struct

import unicorn
from unicorn import (UC_ARCH_X86, UC_MODE_64, UC_PROT_EXEC,
                     UC_PROT_READ, UC_PROT_WRITE, Uc, UcError)
from unicorn import x86_const as x86

from .. import abi
from . import segments as seg

X86 = abi.x86_64
PAGE_SIZE = X86.PAGE_SIZE
GENERAL_REGISTERS = X86.GENERAL_REGISTERS

IDENTITY_MAP_LIMIT = X86.IDENTITY_MAP_LIMIT
# Unicorn's virtual TLB mode and its fill hook came with 2.1.0.
VIRTUAL_TLB = hasattr(unicorn, "UC_TLB_VIRTUAL")
# Unicorn before 2.1 (Debian 12's 2.0.1) writes CR4 without recomputing the
# CPU's cached flags, which start with OSFXSR on: SSE would run instead of
# faulting. A `mov %rax, %cr4` run in the emulation recomputes them, so
# there the run starts in a few instructions of the machine's own
# (``start``), which write CR4, restore rax and jump to the entry.
SET_CR4_IN_EMULATION = not VIRTUAL_TLB
SET_CR4_OFFSET = 0x800          # in the GDT's page, after the GDT
REACH = IDENTITY_MAP_LIMIT if VIRTUAL_TLB else 1 << 40
UNREACHABLE = (None if VIRTUAL_TLB else
               f"Unicorn {unicorn.__version__} has no virtual TLB "
               "(UC_TLB_VIRTUAL) and its own page walker stops at 1 TiB "
               "(40 address bits); a newer Unicorn (pip install 'unicorn>=2.1') "
               "emulates up to the identity map's end")
MACHINE_AREA_BASE = 1 << 20

PTE_PRESENT = 1 << 0
PTE_WRITABLE = 1 << 1
PTE_ACCESSED = 1 << 5
PTE_DIRTY = 1 << 6
PTE_LARGE = 1 << 7
PTE_ADDRESS = 0x000ffffffffff000
GIB = 1 << 30
PML4_SLOT = 1 << 39

CR0_PE, CR0_ET, CR0_NE, CR0_PG = 1 << 0, 1 << 4, 1 << 5, 1 << 31
CR4_PAE = 1 << 5
MSR_EFER = 0xC0000080
EFER_LME, EFER_LMA, EFER_NXE = 1 << 8, 1 << 10, 1 << 11
EFLAGS_RESERVED = 1 << 1       # IF clear: interrupts off

KERNEL_CS = X86.KERNEL_CS
KERNEL_DS = X86.KERNEL_DS
# null, null, 64-bit code (0x10), flat data (0x18), as Linux's GDT has them.
OLD_KERNEL_GDT = struct.pack("<4Q", 0, 0, 0x00af9b000000ffff, 0x00cf93000000ffff)

# The CPU models a run may ask for, by what they can run: Unicorn's qemu64
# (its default for 64-bit mode) has neither BMI2 nor SHA; Haswell has BMI2
# and MOVBE. No model of Unicorn 2.1 reports SHA in CPUID (its TCG has no
# SHA-NI; sha256rnds2 is an invalid instruction), so a purgatory
# dispatching by CPUID never takes that path here.
CPU_MODELS = {"baseline": x86.UC_CPU_X86_QEMU64, "bmi2": x86.UC_CPU_X86_HASWELL}
# Debian 12's Unicorn 2.0.1 keeps CPUID at qemu64's whatever model is set
# (measured: the purgatory's dispatch sees no BMI2 under "bmi2"); the models
# work from 2.1, the release that also brought the virtual TLB.
CPU_MODELS_WORK = VIRTUAL_TLB
CPU_MODELS_UNSUPPORTED = (f"Unicorn {unicorn.__version__} does not set the "
                          "CPU model's CPUID (pip install 'unicorn>=2.1')")
DEFAULT_CPU = "baseline"

UC_REGISTER = {name: getattr(x86, f"UC_X86_REG_{name.upper()}")
               for name in X86.ENTRY64_REGISTERS}


class LongModeMachine:
    """Unicorn set up as the CPU the purgatory starts on.

    ``blobs`` is a list of (address, bytes) that make up memory; ``space`` is
    the AddressSpace they were placed in, where the machine's own pages are
    placed too; ``cpu`` a key of CPU_MODELS.
    """

    def __init__(self, blobs, space, cpu=DEFAULT_CPU):
        slots = {address // PML4_SLOT for address, data in blobs}
        slots |= {(address + max(seg.length(data), 1) - 1) // PML4_SLOT
                  for address, data in blobs}
        slots.add(MACHINE_AREA_BASE // PML4_SLOT)
        self.slots = sorted(slots)
        # PML4, one PDPT per 512 GiB slot in use, the GDT page, a stack page.
        area_size = (1 + len(self.slots) + 2) * PAGE_SIZE
        self.area = space.allocate(area_size, "the emulated machine's page tables",
                                   MACHINE_AREA_BASE)
        self.pml4 = self.area
        self.gdt = self.area + (1 + len(self.slots)) * PAGE_SIZE
        self.stack_top = self.gdt + 2 * PAGE_SIZE
        self.uc = Uc(UC_ARCH_X86, UC_MODE_64)
        self.uc.ctl_set_cpu_model(CPU_MODELS[cpu])
        if VIRTUAL_TLB:
            self.uc.ctl_set_tlb_mode(unicorn.UC_TLB_VIRTUAL)
            self.uc.hook_add(unicorn.UC_HOOK_TLB_FILL, self._walk_page_tables)
        seg.map_and_write(self.uc, blobs + [(self.area, bytes(area_size))], PAGE_SIZE)
        self._write_page_tables(blobs)
        self.uc.mem_write(self.gdt, OLD_KERNEL_GDT)
        self._set_cpu_state()

    def _write_page_tables(self, blobs):
        """Identity-map, with 1 GiB pages, every GiB that holds memory."""
        gibs = set()
        for address, data in blobs + [(self.area, b"\0")]:
            gibs.update(range(address // GIB,
                              (address + max(seg.length(data), 1) - 1) // GIB + 1))
        table_flags = PTE_PRESENT | PTE_WRITABLE | PTE_ACCESSED
        for number, slot in enumerate(self.slots):
            pdpt = self.pml4 + (1 + number) * PAGE_SIZE
            self.uc.mem_write(self.pml4 + 8 * slot, struct.pack("<Q", pdpt | table_flags))
            for gib in gibs:
                if gib * GIB // PML4_SLOT == slot:
                    entry = gib * GIB | table_flags | PTE_DIRTY | PTE_LARGE
                    self.uc.mem_write(pdpt + 8 * (gib % 512), struct.pack("<Q", entry))

    def _walk_page_tables(self, uc, vaddr, access, entry, _user_data):
        """Translate like the CPU: 4 levels from CR3, 1 GiB/2 MiB/4 KiB pages."""
        if vaddr >= 1 << 47:
            return False
        table = uc.reg_read(x86.UC_X86_REG_CR3) & PTE_ADDRESS
        writable = True
        for level, shift in enumerate((39, 30, 21, 12)):
            try:
                pte, = struct.unpack("<Q", uc.mem_read(table + 8 * ((vaddr >> shift) & 511), 8))
            except UcError:
                return False
            if not pte & PTE_PRESENT:
                return False
            writable = writable and bool(pte & PTE_WRITABLE)
            if level == 3 or (level > 0 and pte & PTE_LARGE):
                offset_mask = (1 << shift) - 1
                physical = (pte & PTE_ADDRESS & ~offset_mask) | (vaddr & offset_mask)
                entry.paddr = physical & ~(PAGE_SIZE - 1)
                entry.perms = UC_PROT_READ | UC_PROT_EXEC | (UC_PROT_WRITE if writable else 0)
                return True
            table = pte & PTE_ADDRESS
        return False

    def _set_cpu_state(self):
        uc = self.uc
        uc.reg_write(x86.UC_X86_REG_GDTR, (0, self.gdt, len(OLD_KERNEL_GDT) - 1, 0))
        uc.reg_write(x86.UC_X86_REG_IDTR, (0, 0, 0, 0))
        uc.reg_write(x86.UC_X86_REG_CR3, self.pml4)
        uc.reg_write(x86.UC_X86_REG_CR4, CR4_PAE)
        uc.reg_write(x86.UC_X86_REG_MSR, (MSR_EFER, EFER_LME | EFER_LMA | EFER_NXE))
        uc.reg_write(x86.UC_X86_REG_CR0, CR0_PG | CR0_NE | CR0_ET | CR0_PE)
        uc.reg_write(x86.UC_X86_REG_CS, KERNEL_CS)
        for segment in ("DS", "ES", "SS"):
            uc.reg_write(getattr(x86, f"UC_X86_REG_{segment}"), KERNEL_DS)
        uc.reg_write(x86.UC_X86_REG_EFLAGS, EFLAGS_RESERVED)
        uc.reg_write(x86.UC_X86_REG_RSP, self.stack_top)

    def start(self, entry, until):
        """Run from ``entry`` until ``until`` (see SET_CR4_IN_EMULATION)."""
        begin = entry
        if SET_CR4_IN_EMULATION:
            begin = self.gdt + SET_CR4_OFFSET
            rax = self.uc.reg_read(x86.UC_X86_REG_RAX)
            code = (b"\xb8" + struct.pack("<I", CR4_PAE)      # mov $CR4_PAE, %eax
                    + b"\x0f\x22\xe0"                        # mov %rax, %cr4
                    + b"\x48\xb8" + struct.pack("<Q", rax)    # movabs $rax, %rax
                    + b"\xff\x25\x00\x00\x00\x00"            # jmp *0(%rip)
                    + struct.pack("<Q", entry))
            self.uc.mem_write(begin, code)
        self.uc.emu_start(begin, until)

    def own_code(self, address):
        """Whether ``address`` is the machine's own code, not the purgatory's."""
        return SET_CR4_IN_EMULATION and self.gdt <= address < self.gdt + PAGE_SIZE

    def set_registers(self, values):
        for name, value in values.items():
            self.uc.reg_write(UC_REGISTER[name], value)

    def registers(self):
        return {name: self.uc.reg_read(UC_REGISTER[name])
                for name in X86.ENTRY64_REGISTERS}
