# SPDX-License-Identifier: GPL-2.0-only
"""The contract between the s390x kernel and its purgatory, as data.

Read from Linux 6.12's sources (the tree the tests download), cited per
fact: kernel/kexec_file.c (the generic loader), arch/s390/kernel/
machine_kexec_file.c, machine_kexec_reloc.c, machine_kexec.c,
relocate_kernel.S, kexec_image.c and arch/s390/purgatory/head.S. s390x is
big-endian: every value the kernel writes into the purgatory, and every
relocated field, is stored most significant byte first. Nothing here
imports pyelftools, capstone or unicorn.
"""

import struct
from dataclasses import dataclass

NAME = "s390x"
E_MACHINE = "EM_S390"
ELF_CLASS = 64
LITTLE_ENDIAN = False
# Kbuild's ARCH, the prefix of Debian's cross toolchain for it, and
# `uname -m` of a host that builds it without one (verify-kernel).
KBUILD_ARCH = "s390"
DEBIAN_CROSS_COMPILE = "s390x-linux-gnu-"
HOST_MACHINE = "s390x"

PAGE_SIZE = 0x1000
# arch/s390/kernel/machine_kexec_file.c, kexec_file_add_purgatory(): the
# purgatory is not placed top-down but right after the kernel (and initrd),
# buf.mem = ALIGN(data->memsz, PAGE_SIZE) (+ crashk_res.start for kdump);
# kexec_locate_mem_hole() (kernel/kexec_file.c) keeps an address the arch
# chose. The kernel image sits at 0 (kexec_image.c,
# kexec_file_add_kernel_image(): buf.mem = 0) and kexec_file_add_components()
# refuses one shorter than PARMAREA (0x10400) + offsetof(struct parmarea,
# command_line) (0x80) + LEGACY_COMMAND_LINE_SIZE (896) = 0x10800 bytes, so
# the lowest address is ALIGN(0x10800, PAGE_SIZE).
MIN_LOAD_ADDRESS = 0x11000
# Where `scons test-run` runs it (`run` defaults to the middle): low, 1 GiB
# and just below 2 GiB, the most a 31-bit entry PSW reaches.
TEST_ADDRESSES = (0x12000, 1 << 30, (1 << 31) - (1 << 20))

# --- Symbols --------------------------------------------------------------
# kernel/kexec_file.c, kexec_purgatory_find_symbol() and
# kexec_purgatory_get_set_symbol(): the generic rules (first STB_GLOBAL
# match, st_size must equal the size read or written, not in NOBITS).
ENTRY_SYMBOL = "purgatory_start"
REGIONS_SYMBOL = "purgatory_sha_regions"
DIGEST_SYMBOL = "purgatory_sha256_digest"
KERNEL_ENTRY_SYMBOL = "kernel_entry"
KERNEL_TYPE_SYMBOL = "kernel_type"
CRASH_START_SYMBOL = "crash_start"
CRASH_SIZE_SYMBOL = "crash_size"

# kernel/kexec_file.c, kexec_calculate_store_digests(): struct
# kexec_sha_region {unsigned long start, len} per hashed segment (the
# purgatory's own excepted), KEXEC_SEGMENT_MAX (16) entries, in the
# kernel's byte order.
MAX_REGIONS = 16
REGION_FORMAT = ">QQ"
REGION_SIZE = struct.calcsize(REGION_FORMAT)
REGIONS_SIZE = MAX_REGIONS * REGION_SIZE
DIGEST_SIZE = 32                        # SHA256_DIGEST_SIZE

# arch/s390/kernel/machine_kexec_file.c, kexec_file_update_purgatory():
# u64 kernel_entry (STARTUP_NORMAL_OFFSET 0x10000, or STARTUP_KDUMP_OFFSET
# 0x10010 for a crash kernel; arch/s390/include/asm/setup.h) and u64
# kernel_type (KEXEC_TYPE_DEFAULT 0 / KEXEC_TYPE_CRASH 1) for every image;
# u64 crash_start and crash_size for a crash image (CONFIG_CRASH_DUMP).
# head.S reads all four, so a purgatory without the crash pair cannot
# serve kdump ("kexec -p" fails with ENOENT).
U64_SIZE = 8
SYMBOLS = {
    ENTRY_SYMBOL: None,
    REGIONS_SYMBOL: REGIONS_SIZE,
    DIGEST_SYMBOL: DIGEST_SIZE,
    KERNEL_ENTRY_SYMBOL: U64_SIZE,
    KERNEL_TYPE_SYMBOL: U64_SIZE,
    CRASH_START_SYMBOL: U64_SIZE,
    CRASH_SIZE_SYMBOL: U64_SIZE,
}
STARTUP_NORMAL_OFFSET = 0x10000
STARTUP_KDUMP_OFFSET = 0x10010
KEXEC_TYPE_DEFAULT = 0
KEXEC_TYPE_CRASH = 1

# --- Entry ----------------------------------------------------------------
# The generic rule (kernel/kexec_file.c, kexec_purgatory_setup_sechdrs()):
# the global purgatory_start inside a loaded executable section, else the
# first executable section containing e_entry. head.S defines
# purgatory_start and purgatory.lds.S says ENTRY(purgatory_start).
ENTRY_FROM_SYMBOL = ENTRY_SYMBOL
ENTRY_FROM_E_ENTRY = "e_entry"
ENTRY_RULES = (ENTRY_FROM_SYMBOL, ENTRY_FROM_E_ENTRY)

# How the old kernel enters the purgatory (normal kexec):
# machine_kexec_file.c, kexec_file_add_components(): with the kernel at 0,
# the first 8 bytes of the kernel segment become the restart PSW
# 0x0008000080000000 + purgatory entry and image->start becomes 0;
# machine_kexec.c, __do_machine_kexec() runs relocate_kernel.S with
# subcode DIAG308_CLEAR_RESET (0, | DIAG308_FLAG_EI when the SCLP offers
# it), which copies the segments and issues diag 308: a clear reset (all
# registers zero) that loads the PSW at absolute 0. The purgatory starts in
# ESA/390 mode, 31-bit addressing, DAT and interrupts off; head.S switches
# to z/Architecture (sigp SET_ARCHITECTURE) and 64-bit addressing itself.
# It leaves the same way: head.S, START_NEXT_KERNEL stores
# kernel_entry | 0x0008000080000000 at absolute 0 and issues diag 308 with
# subcode 0 (1 for a crash kernel). A digest mismatch ends in a disabled
# wait (lpswe disabled_wait_psw). kdump instead calls purgatory_start as a
# function with DAT off (machine_kexec.c, __do_machine_kdump() with r2 = 1,
# kdump_csum_valid() with r2 = 0: verify only and return).
ENTRY_PSW_MASK = 0x0008000080000000
DIAG308_CLEAR_RESET = 0
DIAG308_LOAD_NORMAL_RESET = 1

# kdump (a KEXEC_TYPE_CRASH image), Linux 6.12:
# - placement: kexec_image.c, kexec_file_add_kernel_image() and
#   machine_kexec_file.c, kexec_file_add_initrd()/kexec_file_add_purgatory()
#   add crashk_res.start to each buffer's address: the kernel at the start
#   of crash memory, the initrd and the purgatory after it, each at the
#   page-aligned running total (data->memsz); with the kernel not at 0, no
#   restart PSW is written (kexec_file_add_components(): kernel_mem != 0)
#   and image->start stays the purgatory's entry;
# - kexec_file_update_purgatory(): kernel_entry = STARTUP_KDUMP_OFFSET,
#   kernel_type = KEXEC_TYPE_CRASH, crash_start = crashk_res.start,
#   crash_size = its size;
# - machine_kexec.c: kdump_csum_valid() calls the purgatory as a function
#   through call_nodat() (asm/stacktrace.h: a PSW of PSW_KERNEL_BITS
#   without DAT, so 64-bit addressing, interrupts off; r2 = the argument,
#   r14 = the return address) with r2 = 0: verify the digest only, return
#   r2 = 0 when it matches (head.S: .return_old_kernel restores r6-r15);
#   only then __do_machine_kdump() calls it again with r2 = 1 after
#   s390_reset_system(): head.S copies itself to the end of [0, crash_size),
#   swaps every region of purgatory_sha_regions with its place below
#   crash_size, copies the rest of [0, crash_size) into crash memory (the
#   old kernel's memory, which the crash kernel reads at oldmem_base) and
#   ends with START_NEXT_KERNEL: PSW kernel_entry | ENTRY_PSW_MASK at 0,
#   diag 308 subcode 1 (DIAG308_LOAD_NORMAL_RESET). If that call returns,
#   the old kernel stops in disabled_wait().
# PSW_KERNEL_BITS (asm/ptrace.h) = PSW_DEFAULT_KEY (0) | PSW_MASK_BASE (0) |
# PSW_ASC_HOME | PSW_MASK_EA | PSW_MASK_BA (uapi/asm/ptrace.h).
KDUMP_CALL_PSW_MASK = 0x0000C00000000000 | 0x0000000100000000 | 0x0000000080000000
KDUMP_VERIFY_ONLY = 0
KDUMP_START = 1

# --- Relocations ----------------------------------------------------------
# arch/s390/kernel/machine_kexec_file.c, arch_kexec_apply_relocations_add():
# val = S + A (S without section address for SHN_ABS), addr = the place;
# the symbol is checked (UNDEF, COMMON, bad index) before the type;
# R_390_PLT32DBL is turned into R_390_PC32DBL; any type
# arch_kexec_do_relocs() does not know fails with "Unknown rela
# relocation". arch/s390/kernel/machine_kexec_reloc.c,
# arch_kexec_do_relocs(): each type is a plain store of the value's low
# bits (PC types: val - addr, DBL types shifted right by one) into the
# field; NO type is checked for overflow: a value too wide is truncated
# silently, so fits() never refuses.
U64 = (1 << 64) - 1


@dataclass(frozen=True)
class RelocationType:
    """One relocation type arch_kexec_do_relocs() applies."""
    number: int
    name: str
    width: int           # bytes of the field read-modified-written; 0: NONE
    pc_relative: bool    # val - addr
    shift: int           # right shift of the value (DBL types: halfwords)
    mask: int            # bits of the field the value goes into
    anywhere: bool       # correct wherever the kernel places the purgatory
    overflow: str = "none"   # the kernel never checks

    def fits(self, value):
        """The kernel's overflow check: there is none (truncation)."""
        return True

    def field(self, value, place):
        """The value as arch_kexec_do_relocs() computes it, before masking."""
        if self.pc_relative:
            value = (value - place) & U64
        return value >> self.shift

    def encode(self, old, value, place):
        """The field's new bytes, given its old bytes (12/20 bit types keep
        the other bits of the instruction)."""
        current = int.from_bytes(old, "big")
        field = _scatter(self, self.field(value, place))
        return ((current & ~self.mask) | field).to_bytes(self.width, "big")

    def apply(self, image, at, value, place):
        """Patch ``image`` at offset ``at`` as the kernel does; never
        refuses (the kernel has no overflow check)."""
        if self.width:
            image[at:at + self.width] = self.encode(
                image[at:at + self.width], value, place)
        return True


def _scatter(rtype, value):
    """The bits arch_kexec_do_relocs() stores for ``value``."""
    if rtype.name == "R_390_20":
        # *(u32 *)loc |= (val & 0xfff) << 16 (DL); |= (val & 0xff000) >> 4 (DH)
        return ((value & 0xfff) << 16) | ((value & 0xff000) >> 4)
    return value & rtype.mask


def _type(number, name, width, pc=False, shift=0, mask=None, anywhere=False):
    return RelocationType(number, name, width, pc, shift,
                          (1 << 8 * width) - 1 if mask is None else mask,
                          anywhere)


# Absolute types narrower than 64 bits are truncated silently, so they are
# right only where the value happens to fit: not "anywhere". PC-relative
# types between purgatory sections give the same value at every address.
RELOCATIONS = {r.number: r for r in (
    _type(0, "R_390_NONE", 0, anywhere=True),
    _type(1, "R_390_8", 1),
    _type(2, "R_390_12", 2, mask=0x0fff),        # *(u16 *)loc &= 0xf000
    _type(3, "R_390_16", 2),
    _type(4, "R_390_32", 4),
    _type(5, "R_390_PC32", 4, pc=True, anywhere=True),
    _type(10, "R_390_GLOB_DAT", 8, anywhere=True),
    _type(11, "R_390_JMP_SLOT", 8, anywhere=True),
    _type(12, "R_390_RELATIVE", 8, anywhere=True),
    _type(16, "R_390_PC16", 2, pc=True, anywhere=True),
    _type(17, "R_390_PC16DBL", 2, pc=True, shift=1, anywhere=True),
    _type(19, "R_390_PC32DBL", 4, pc=True, shift=1, anywhere=True),
    # machine_kexec_file.c: "if (r_type == R_390_PLT32DBL) r_type =
    # R_390_PC32DBL" (since December 2021; older loaders ignored it).
    _type(20, "R_390_PLT32DBL", 4, pc=True, shift=1, anywhere=True),
    _type(22, "R_390_64", 8, anywhere=True),
    _type(23, "R_390_PC64", 8, pc=True, anywhere=True),
    _type(57, "R_390_20", 4, mask=0x0fffff00),   # *(u32 *)loc &= 0xf00000ff
)}

# arch/s390/include/asm/elf.h: every R_390 type up to R_390_NUM (61), then
# binutils' (elf/s390.h) 61-65, for messages.
RELOCATION_NAMES = dict(enumerate((
    "R_390_NONE", "R_390_8", "R_390_12", "R_390_16", "R_390_32",
    "R_390_PC32", "R_390_GOT12", "R_390_GOT32", "R_390_PLT32", "R_390_COPY",
    "R_390_GLOB_DAT", "R_390_JMP_SLOT", "R_390_RELATIVE", "R_390_GOTOFF32",
    "R_390_GOTPC", "R_390_GOT16", "R_390_PC16", "R_390_PC16DBL",
    "R_390_PLT16DBL", "R_390_PC32DBL", "R_390_PLT32DBL", "R_390_GOTPCDBL",
    "R_390_64", "R_390_PC64", "R_390_GOT64", "R_390_PLT64", "R_390_GOTENT",
    "R_390_GOTOFF16", "R_390_GOTOFF64", "R_390_GOTPLT12", "R_390_GOTPLT16",
    "R_390_GOTPLT32", "R_390_GOTPLT64", "R_390_GOTPLTENT", "R_390_PLTOFF16",
    "R_390_PLTOFF32", "R_390_PLTOFF64", "R_390_TLS_LOAD", "R_390_TLS_GDCALL",
    "R_390_TLS_LDCALL", "R_390_TLS_GD32", "R_390_TLS_GD64",
    "R_390_TLS_GOTIE12", "R_390_TLS_GOTIE32", "R_390_TLS_GOTIE64",
    "R_390_TLS_LDM32", "R_390_TLS_LDM64", "R_390_TLS_IE32", "R_390_TLS_IE64",
    "R_390_TLS_IEENT", "R_390_TLS_LE32", "R_390_TLS_LE64", "R_390_TLS_LDO32",
    "R_390_TLS_LDO64", "R_390_TLS_DTPMOD", "R_390_TLS_DTPOFF",
    "R_390_TLS_TPOFF", "R_390_20", "R_390_GOT20", "R_390_GOTPLT20",
    "R_390_TLS_GOTIE20", "R_390_IRELATIVE", "R_390_PC12DBL",
    "R_390_PLT12DBL", "R_390_PC24DBL", "R_390_PLT24DBL",
)))


def relocation_name(number):
    return RELOCATION_NAMES.get(number, f"type {number}")


# s390 defines no arch_kexec_apply_relocations(): include/linux/kexec.h's
# default prints "REL relocation unsupported." and fails the load.
RELA_ONLY = True

# --- Instructions ---------------------------------------------------------
CAPSTONE = ("CS_ARCH_SYSZ", "CS_MODE_BIG_ENDIAN")
CAPSTONE_CONSTANTS = "sysz_const"
CAPSTONE_PREFIX = "SYSZ_"
# arch/s390/purgatory/Makefile builds with -msoft-float, and the purgatory
# runs after a clear reset (FP and vector registers zero, CR0's AFP and
# vector-enablement bits off: an FP instruction touching f1, f3, f5, f7 or
# above and every vector instruction raise a data exception) and, for kdump,
# with the crashed kernel's FP/vector state unsaved. Neither may be used.
# gcc refuses -mvx together with -msoft-float, so the Makefile's flag
# excludes both.
INSTRUCTION_ADVICE = ("the purgatory runs with no usable floating-point or "
                      "vector state (build with -msoft-float, as "
                      "arch/s390/purgatory/Makefile does; it excludes -mvx)")
# What an older capstone cannot decode, by major version (checker rule
# unchecked-instructions): capstone 4's SystemZ tables stop before z13.
CAPSTONE_BLIND_SPOTS = {4: "the vector facility (z13 and later)"}
# capstone 5's groups (capstone 4 lacks some; missing names are skipped).
FORBIDDEN_GROUPS = {
    "FPEXTENSION": "floating point",
    "DFPPACKEDCONVERSION": "floating point",
    "DFPZONEDCONVERSION": "floating point",
    "VECTOR": "vector",
    "VECTORENHANCEMENTS1": "vector",
    "VECTORENHANCEMENTS2": "vector",
    "VECTORPACKEDDECIMAL": "vector",
}
FORBIDDEN_REGISTERS = (            # register name pattern -> class
    (r"F\d+Q?", "floating point"), (r"V\d+", "vector"),
)
GENERAL_PURPOSE_INSTRUCTIONS = ()
# The floating-point control register: no register in capstone's tables.
STATE_SAVE_INSTRUCTIONS = ("EFPC", "SFPC", "LFPC", "STFPC", "SRNM", "SRNMB",
                           "SRNMT", "LFAS", "SFASR")
STATE_SAVE_CLASS = "floating-point control"
CLASS_RANK = {STATE_SAVE_CLASS: 1, "floating point": 2, "vector": 3}
