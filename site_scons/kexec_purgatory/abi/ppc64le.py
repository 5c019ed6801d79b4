# SPDX-License-Identifier: GPL-2.0-only
"""The contract between the ppc64le kernel and its purgatory, as data.

Read from Linux 6.12's sources, cited per fact: the generic loader in
kernel/kexec_file.c, powerpc's side in arch/powerpc/kexec/elf_64.c,
file_load.c and file_load_64.c, the hand-over in
arch/powerpc/kernel/misc_64.S and the purgatory itself,
arch/powerpc/purgatory/trampoline_64.S (one assembly file, linked with
``ld -r --no-undefined -e purgatory_start``, arch/powerpc/purgatory/Makefile).

The powerpc purgatory differs from x86's in three ways that shape
everything here: the kernel applies no relocation at all to it, it shares
fixed-size words with the kernel (the 256-byte ``purgatory_start`` among
them) rather than a register block, and it checks no digest: the kernel
stores ``purgatory_sha256_digest`` and ``purgatory_sha_regions`` in it
(generic code), but trampoline_64.S never reads them.

Big-endian ppc64 is the same machine (EM_PPC64) with the other byte order
and the ELFv1 ABI; its kernels load the same trampoline built big-endian.
It is not modelled here: ``OTHER_BYTE_ORDER`` names it, so that the checker
says so (a warning, the ELF header checked only) instead of claiming the
kernel refuses it.

Nothing here imports pyelftools, capstone or unicorn.
"""

NAME = "ppc64le"
E_MACHINE = "EM_PPC64"
ELF_CLASS = 64
LITTLE_ENDIAN = True
# Kbuild's ARCH, the prefix of Debian's cross toolchain for it, and
# `uname -m` of a host that builds it without one (verify-kernel).
KBUILD_ARCH = "powerpc"
DEBIAN_CROSS_COMPILE = "powerpc64le-linux-gnu-"
HOST_MACHINE = "ppc64le"
# The same e_machine in the other byte order: not modelled (see above).
OTHER_BYTE_ORDER = "big-endian ppc64"

# --- Placement ------------------------------------------------------------
# kernel/kexec_file.c, kexec_add_buffer(): buf_align = max(buf_align,
# PAGE_SIZE) and memsz rounded up to PAGE_SIZE. Debian's ppc64el config
# (the 6.12 tree the tests build) has CONFIG_PPC_4K_PAGES=y; kernels built
# with CONFIG_PPC_64K_PAGES (other distributions) align to 64 KiB, which is
# also 4 KiB aligned, so every address those kernels choose is taken here.
PAGE_SIZE = 0x1000
# arch/powerpc/kexec/elf_64.c, elf64_load(): the purgatory's kexec_buf has
# buf_min = 0, buf_max = ppc64_rma_size, top_down = true (kdump: inside
# crashk_res). arch/powerpc/kexec/file_load_64.c,
# arch_kexec_locate_mem_hole() skips the exclude ranges, and
# arch/powerpc/kexec/ranges.c, add_kernel_mem_range() excludes
# [0, __pa(_end)) of the running kernel, so the lowest pages are never
# used; the lowest 64 KiB (BACKUP_SRC_START..BACKUP_SRC_END,
# arch/powerpc/include/asm/crashdump-ppc64.h) are the ones the purgatory
# itself copies away for kdump and the new kernel's vectors overwrite.
MIN_LOAD_ADDRESS = 0x10000
# Where `scons test-run` runs it: the lowest, inside a hash MMU's 1 GiB
# RMA, and high (radix: top-down below the top of RAM). The high one stays
# below 1 TiB: a run gives QEMU guest RAM up to the purgatory, and QEMU
# sets 3 dirty bits per 4 KiB page of it at start (96 MiB for 1 TiB; 12 GiB
# for 128 TiB). `load` is tested at 128 TiB as well: nothing is relocated.
TEST_ADDRESSES = (0x10000, 0x20000000, (1 << 40) - (1 << 20))
# ppc64_rma_size: at most 1 GiB with the hash MMU
# (arch/powerpc/mm/book3s64/hash_utils.c, hash__setup_initial_memory_limit()),
# ULONG_MAX with radix (arch/powerpc/mm/init_64.c). The purgatory runs in
# real mode (MMU off), so any physical address below that works; not
# enforced by the loader, which models radix.
HASH_MMU_RMA_LIMIT = 1 << 30

# --- Symbols --------------------------------------------------------------
# kernel/kexec_file.c, kexec_purgatory_find_symbol() and
# kexec_purgatory_get_set_symbol(): as on every architecture, only
# STB_GLOBAL symbols, st_size equal to the size read or written ("size
# mismatch"), not in a NOBITS section ("is in a bss section").
ENTRY_SYMBOL = "purgatory_start"
KERNEL_SYMBOL = "kernel"
DT_SYMBOL = "dt_offset"
BACKUP_SYMBOL = "backup_start"
OPAL_BASE_SYMBOL = "opal_base"
OPAL_ENTRY_SYMBOL = "opal_entry"
RUN_AT_LOAD_SYMBOL = "run_at_load"
REGIONS_SYMBOL = "purgatory_sha_regions"
DIGEST_SYMBOL = "purgatory_sha256_digest"

# arch/powerpc/kexec/file_load.c, setup_purgatory(): reads SLAVE_CODE_SIZE
# (256) bytes at purgatory_start, replaces all but the first word with the
# first 256 bytes of the new kernel's first segment (its slave code, which
# spins secondary CPUs at 0x60), and writes them back. So purgatory_start
# is exactly 256 bytes, and only its first instruction is the purgatory's:
# it must branch past them (trampoline_64.S: "b master").
SLAVE_CODE_SIZE = 256
# arch/powerpc/kernel/misc_64.S, kexec_sequence(): before jumping to the
# entry it copies the first 0x100 bytes at the entry to physical 0 (where
# the slave CPUs wait), and trampoline_64.S stores run_at_load at kernel +
# RUN_AT_LOAD_OFFSET (the word a relocatable kernel reads at 0x5c).
RUN_AT_LOAD_OFFSET = 0x5c
# kernel/kexec_file.c, kexec_calculate_store_digests(): the generic code
# stores KEXEC_SEGMENT_MAX (16) regions of {u64 start, u64 len} and the
# SHA-256 digest on every architecture with a purgatory. powerpc's
# purgatory defines both (in .data) and never reads them.
MAX_REGIONS = 16
REGION_FORMAT = "<QQ"
REGIONS_SIZE = MAX_REGIONS * 16
DIGEST_SIZE = 32
CHECKS_DIGEST = False

SYMBOLS = {
    ENTRY_SYMBOL: SLAVE_CODE_SIZE,
    # file_load.c, setup_purgatory(): sizeof(unsigned long) each.
    KERNEL_SYMBOL: 8,
    DT_SYMBOL: 8,
    # file_load_64.c, setup_purgatory_ppc64(): sizeof(image->arch.backup_start)
    # always; opal_base and opal_entry (u64) only on OPAL machines
    # (PowerNV, where /ibm,opal exists); run_at_load (u32) only for a
    # crash kernel. A wrong size fails only there: still wrong.
    BACKUP_SYMBOL: 8,
    OPAL_BASE_SYMBOL: 8,
    OPAL_ENTRY_SYMBOL: 8,
    RUN_AT_LOAD_SYMBOL: 4,
    REGIONS_SYMBOL: REGIONS_SIZE,
    DIGEST_SYMBOL: DIGEST_SIZE,
}

# --- Entry ----------------------------------------------------------------
# Generic (kernel/kexec_file.c, kexec_purgatory_setup_sechdrs()): the first
# executable section containing e_entry; in Linux 7.2 (and Debian's 6.1.192
# and 6.12.117) the global purgatory_start, falling back to e_entry.
ENTRY_FROM_SYMBOL = ENTRY_SYMBOL
ENTRY_FROM_E_ENTRY = "e_entry"
ENTRY_RULES = (ENTRY_FROM_SYMBOL, ENTRY_FROM_E_ENTRY)

# The CPU at entry, arch/powerpc/kernel/misc_64.S, kexec_sequence() (via
# real_mode() and the final blr): real mode (MSR IR and DR clear),
# external interrupts off (EE clear), MSR RI clear, 64-bit (SF), MSR LE set
# on ppc64le; r3 = the boot CPU's physical id, r4 = the entry address
# ("start, aka phys mem offset"), r5 = 0, lr = the entry.
ENTRY_REGISTERS = ("r3", "r4", "r5")
# The MSR bits of that state (arch/powerpc/include/asm/reg.h: MSR_SF bit 63,
# MSR_HV bit 60, MSR_ME bit 12, MSR_LE bit 0): what a PowerNV kernel runs
# with (MSR_KERNEL) less IR/DR, EE and RI. head_64.S, __start takes the
# kernel in either byte order (FIXUP_ENDIAN), so LE is free at the kernel's
# entry; trampoline_64.S clears it by rfid.
MSR_SF, MSR_HV, MSR_ME, MSR_LE = 1 << 63, 1 << 60, 1 << 12, 1
ENTRY_MSR = MSR_SF | MSR_HV | MSR_ME | MSR_LE
# The FDT header fields trampoline_64.S reads and writes (big-endian):
# version at byte 20, boot_cpuid_phys at byte 28 (include/linux/libfdt_env.h,
# scripts/dtc/libfdt/fdt.h, struct fdt_header).
FDT_VERSION_OFFSET, FDT_BOOT_CPU_OFFSET = 20, 28
# kdump: arch/powerpc/include/asm/crashdump-ppc64.h, BACKUP_SRC_START 0 and
# BACKUP_SRC_SIZE 64 KiB; file_load_64.c, load_backup_segment() adds a
# segment of that many zero bytes after the kernel and backup_start points
# to it; trampoline_64.S copies [0, 64 KiB) there.
BACKUP_SRC_SIZE = 0x10000
# What trampoline_64.S hands the new kernel: r3 = dt_offset (the FDT),
# r4 = kernel (the entry as well), r5 = 0, r8 = opal_base, r9 = opal_entry,
# with MSR LE cleared by rfid (a ppc64le kernel starts big-endian and
# switches itself); the FDT's boot_cpuid_phys (byte 28, big-endian) set to
# r3 at entry when the FDT's version (byte 20) is 2 or later.
KERNEL_REGISTERS = {"r3": DT_SYMBOL, "r4": KERNEL_SYMBOL, "r8": OPAL_BASE_SYMBOL,
                    "r9": OPAL_ENTRY_SYMBOL}

# --- Relocations ----------------------------------------------------------
# powerpc defines neither arch_kexec_apply_relocations_add() nor
# arch_kexec_apply_relocations(): include/linux/kexec.h's defaults print
# "RELA relocation unsupported." / "REL relocation unsupported." and return
# -ENOEXEC. kernel/kexec_file.c, kexec_apply_relocations() calls them for
# every SHT_RELA/SHT_REL section whose target is SHF_ALLOC, so any such
# section, even an empty one, fails the load; relocations of debug
# sections (not SHF_ALLOC) are skipped.
RELOCATIONS = {}
RELA_APPLIED = False
RELA_REFUSED_MESSAGE = "RELA relocation unsupported."
RELA_ONLY = True
U64 = (1 << 64) - 1

# arch/powerpc/include/uapi/asm/elf.h, for messages (the R_PPC64_* that
# equal an R_PPC_* number take that number).
RELOCATION_NAMES = {number: f"R_PPC64_{name}" for number, name in {
    0: "NONE", 1: "ADDR32", 2: "ADDR24", 3: "ADDR16", 4: "ADDR16_LO",
    5: "ADDR16_HI", 6: "ADDR16_HA", 7: "ADDR14", 8: "ADDR14_BRTAKEN",
    9: "ADDR14_BRNTAKEN", 10: "REL24", 11: "REL14", 12: "REL14_BRTAKEN",
    13: "REL14_BRNTAKEN", 14: "GOT16", 15: "GOT16_LO", 16: "GOT16_HI",
    17: "GOT16_HA", 19: "COPY", 20: "GLOB_DAT", 21: "JMP_SLOT",
    22: "RELATIVE", 24: "UADDR32", 25: "UADDR16", 26: "REL32", 27: "PLT32",
    28: "PLTREL32", 29: "PLT16_LO", 30: "PLT16_HI", 31: "PLT16_HA",
    33: "SECTOFF", 34: "SECTOFF_LO", 35: "SECTOFF_HI", 36: "SECTOFF_HA",
    37: "ADDR30", 38: "ADDR64", 39: "ADDR16_HIGHER", 40: "ADDR16_HIGHERA",
    41: "ADDR16_HIGHEST", 42: "ADDR16_HIGHESTA", 43: "UADDR64", 44: "REL64",
    45: "PLT64", 46: "PLTREL64", 47: "TOC16", 48: "TOC16_LO", 49: "TOC16_HI",
    50: "TOC16_HA", 51: "TOC", 52: "PLTGOT16", 53: "PLTGOT16_LO",
    54: "PLTGOT16_HI", 55: "PLTGOT16_HA", 56: "ADDR16_DS", 57: "ADDR16_LO_DS",
    58: "GOT16_DS", 59: "GOT16_LO_DS", 60: "PLT16_LO_DS", 61: "SECTOFF_DS",
    62: "SECTOFF_LO_DS", 63: "TOC16_DS", 64: "TOC16_LO_DS",
    65: "PLTGOT16_DS", 66: "PLTGOT16_LO_DS", 67: "TLS", 68: "DTPMOD64",
    69: "TPREL16", 70: "TPREL16_LO", 71: "TPREL16_HI", 72: "TPREL16_HA",
    73: "TPREL64", 74: "DTPREL16", 75: "DTPREL16_LO", 76: "DTPREL16_HI",
    77: "DTPREL16_HA", 78: "DTPREL64", 79: "GOT_TLSGD16",
    80: "GOT_TLSGD16_LO", 81: "GOT_TLSGD16_HI", 82: "GOT_TLSGD16_HA",
    83: "GOT_TLSLD16", 84: "GOT_TLSLD16_LO", 85: "GOT_TLSLD16_HI",
    86: "GOT_TLSLD16_HA", 87: "GOT_TPREL16_DS", 88: "GOT_TPREL16_LO_DS",
    89: "GOT_TPREL16_HI", 90: "GOT_TPREL16_HA", 91: "GOT_DTPREL16_DS",
    92: "GOT_DTPREL16_LO_DS", 93: "GOT_DTPREL16_HI", 94: "GOT_DTPREL16_HA",
    95: "TPREL16_DS", 96: "TPREL16_LO_DS", 97: "TPREL16_HIGHER",
    98: "TPREL16_HIGHERA", 99: "TPREL16_HIGHEST", 100: "TPREL16_HIGHESTA",
    101: "DTPREL16_DS", 102: "DTPREL16_LO_DS", 103: "DTPREL16_HIGHER",
    104: "DTPREL16_HIGHERA", 105: "DTPREL16_HIGHEST",
    106: "DTPREL16_HIGHESTA", 107: "TLSGD", 108: "TLSLD", 109: "TOCSAVE",
    116: "REL24_NOTOC", 118: "ENTRY", 132: "PCREL34", 133: "GOT_PCREL34",
    249: "REL16", 250: "REL16_LO", 251: "REL16_HI", 252: "REL16_HA",
}.items()}


def relocation_name(number):
    return RELOCATION_NAMES.get(number, f"type {number}")


# --- Instructions ---------------------------------------------------------
CAPSTONE = ("CS_ARCH_PPC", "CS_MODE_64", "CS_MODE_LITTLE_ENDIAN")
CAPSTONE_CONSTANTS = "ppc_const"
CAPSTONE_PREFIX = "PPC_"
# Every instruction is one aligned word (prefixed POWER10 instructions are
# two): after undecodable bytes the checker moves on by a word.
INSTRUCTION_ALIGNMENT = 4
# The kernel runs with MSR FP, VEC and VSX clear unless it borrowed the
# unit (enable_kernel_fp() and friends), and kexec_sequence() sets none of
# them: such an instruction raises a facility-unavailable interrupt
# (vectors 0x800, 0xf20, 0xf40) into an old kernel that kexec has already
# torn down (real mode, its pages overwritten by the new image).
INSTRUCTION_ADVICE = ("the purgatory runs with MSR FP/VEC/VSX clear, after "
                      "the old kernel is torn down (build with -msoft-float "
                      "-mno-altivec -mno-vsx, general registers only)")
# Capstone 5 has no floating-point group for PPC and no register-access
# table (the checker falls back to operands): floating point is found by
# its registers F0-F31 and the FPSCR moves below, Altivec by V0-V31 and its
# groups, VSX by VS0-VS63 and its groups. Not by capstone's RM (the FPSCR
# rounding mode): capstone 5 lists it as read by every conditional branch.
# Names missing from an older capstone (Debian 12's 4.0.2) are skipped.
FORBIDDEN_GROUPS = {
    "ALTIVEC": "Altivec", "P8ALTIVEC": "Altivec",
    "VSX": "VSX", "P8VECTOR": "VSX",
    "QPX": "QPX", "PS": "floating point", "SPE": "SPE",
}
FORBIDDEN_REGISTERS = (
    (r"F\d+", "floating point"), (r"V\d+|VSCR", "Altivec"),
    (r"VS\d+", "VSX"), (r"Q\d+", "QPX"),
)
GENERAL_PURPOSE_INSTRUCTIONS = ()
# FPSCR moves name no F register in some encodings (mtfsfi, mtfsb0/1).
STATE_SAVE_INSTRUCTIONS = ("MTFSB0", "MTFSB1", "MTFSFI", "MTFSF", "MFFS",
                           "MFFSL", "MFFSCE")
STATE_SAVE_CLASS = "floating point"
CLASS_RANK = {"floating point": 1, "SPE": 2, "Altivec": 3, "QPX": 4, "VSX": 5}
