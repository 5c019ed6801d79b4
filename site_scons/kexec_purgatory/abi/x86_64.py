# SPDX-License-Identifier: GPL-2.0-only
"""The contract between the x86_64 kernel and its purgatory, as data.

Every part of this package that needs a fact of the contract (the loader,
the checker, the emulator, the tests that read ``arch/x86/entry64.S``)
takes it from here, so they cannot disagree. The facts come from Linux
6.1's sources, cited per fact; they are unchanged through 2026 except where
a comment says otherwise. Nothing here imports pyelftools, capstone or
unicorn: the module is data, cheap to import in every build.
"""

import struct
from dataclasses import dataclass

NAME = "x86_64"
# ELF identity, as pyelftools spells it (header["e_machine"] and so on).
E_MACHINE = "EM_X86_64"
ELF_CLASS = 64
LITTLE_ENDIAN = True
# Kbuild's ARCH, the prefix of Debian's cross toolchain for it, and
# `uname -m` of a host that builds it without one (verify-kernel).
KBUILD_ARCH = "x86"
DEBIAN_CROSS_COMPILE = "x86_64-linux-gnu-"
HOST_MACHINE = "x86_64"

PAGE_SIZE = 0x1000
# arch/x86/kernel/kexec-bzimage64.c, bzImage64_load(): the purgatory's
# kexec_buf has buf_min = MIN_PURGATORY_ADDR (0x3000) and is placed
# top-down above it, page aligned (kernel/kexec_file.c,
# kexec_purgatory_setup_kbuf(), locate_mem_hole_top_down()).
MIN_LOAD_ADDRESS = 0x3000
# Kernels with 4-level paging map no physical memory above 64 TiB.
IDENTITY_MAP_LIMIT = 1 << 46
# Where `scons test-run` runs it: low, just above 4 GiB (where any 32-bit
# absolute relocation breaks) and above 2^40; `run` defaults to the middle.
TEST_ADDRESSES = (0x3000, (1 << 32) + 0x1000, (1 << 40) + 0x200000)

# --- Symbols --------------------------------------------------------------
# kernel/kexec_file.c, kexec_purgatory_find_symbol(): only STB_GLOBAL
# symbols, first match in section-header order, none in SHN_UNDEF/ABS/COMMON.
# kexec_purgatory_get_set_symbol(): st_size must equal the size the kernel
# reads or writes ("size mismatch"), and the symbol may not be in a NOBITS
# section ("is in a bss section").
ENTRY_SYMBOL = "purgatory_start"
REGIONS_SYMBOL = "purgatory_sha_regions"
DIGEST_SYMBOL = "purgatory_sha256_digest"
REGISTERS_SYMBOL = "entry64_regs"
STACK_END_SYMBOL = "stack_end"

# kernel/kexec_file.c, kexec_calculate_store_digests(): one
# struct kexec_sha_region {u64 start, len} per hashed segment, in an array
# of KEXEC_SEGMENT_MAX (16) entries, zero after the last one.
MAX_REGIONS = 16
REGION_FORMAT = "<QQ"
REGION_SIZE = struct.calcsize(REGION_FORMAT)
REGIONS_SIZE = MAX_REGIONS * REGION_SIZE
DIGEST_SIZE = 32                        # SHA256_DIGEST_SIZE

# arch/x86/include/asm/kexec.h, struct kexec_entry64_regs: the order the
# bzImage loader (arch/x86/kernel/kexec-bzimage64.c, bzImage64_load())
# reads, changes and writes back; entry64.S loads them in this order.
GENERAL_REGISTERS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                     "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
ENTRY64_REGISTERS = GENERAL_REGISTERS + ("rip",)
ENTRY64_REGISTERS_SIZE = 8 * len(ENTRY64_REGISTERS)

# name -> exact size the kernel reads or writes, or None when it only takes
# the address (purgatory_start: the entry; stack_end: rsp).
SYMBOLS = {
    ENTRY_SYMBOL: None,
    REGIONS_SYMBOL: REGIONS_SIZE,
    DIGEST_SYMBOL: DIGEST_SIZE,
    REGISTERS_SYMBOL: ENTRY64_REGISTERS_SIZE,
    STACK_END_SYMBOL: None,
}

# arch/x86/kernel/kexec-bzimage64.c, bzImage64_load(): rbx = 0 (the boot
# CPU), rsi = boot_params, rip = kernel load address + 0x200 (the 64-bit
# entry of a bzImage), rsp = stack_end; every other register keeps what
# the purgatory's entry64_regs held.
KERNEL_ENTRY_OFFSET = 0x200

# The CPU the old kernel leaves (arch/x86/kernel/relocate_kernel_64.S):
# long mode, paging with an identity map, interrupts off, CR4 = PAE only
# (no OSFXSR, no OSXSAVE: x87/SSE/AVX fault), Linux's GDT with the 64-bit
# code selector 0x10 and the flat data selector 0x18.
KERNEL_CS = 0x10
KERNEL_DS = 0x18

# --- Entry ----------------------------------------------------------------
# Kernels before 2026: the first executable section containing e_entry
# (kernel/kexec_file.c, kexec_purgatory_setup_sechdrs()). Since 2026
# ("kexec: derive purgatory entry from symbol"): the global purgatory_start
# in a loaded executable section, falling back to e_entry.
ENTRY_FROM_SYMBOL = ENTRY_SYMBOL
ENTRY_FROM_E_ENTRY = "e_entry"
ENTRY_RULES = (ENTRY_FROM_SYMBOL, ENTRY_FROM_E_ENTRY)

# --- Relocations ----------------------------------------------------------
# arch/x86/kernel/machine_kexec_64.c, arch_kexec_apply_relocations_add():
# value = S + A (S = 0 for SHN_ABS); the symbol is resolved before the
# type is looked at, so an undefined symbol fails even R_X86_64_NONE.
U64 = (1 << 64) - 1


@dataclass(frozen=True)
class RelocationType:
    """One relocation type the loader applies: how and how wide."""
    number: int
    name: str
    width: int           # bytes written; 0 for NONE
    pc_relative: bool    # value - place
    overflow: str        # "none", "zero-extend" or "sign-extend" (32 bits)
    anywhere: bool       # correct wherever the kernel places the purgatory

    def fits(self, value):
        """Whether S + A (a u64) passes the kernel's overflow check."""
        if self.overflow == "zero-extend":
            return value <= 0xffffffff
        if self.overflow == "sign-extend":
            return value < 1 << 31 or value >= (1 << 64) - (1 << 31)
        return True

    def encode(self, value, place):
        """The bytes written at ``place``; None when the value overflows."""
        if self.pc_relative:
            value = (value - place) & U64
        if not self.fits(value):
            return None
        return (value & ((1 << 8 * self.width) - 1)).to_bytes(self.width, "little")

    def apply(self, image, at, value, place):
        """Patch ``image`` at offset ``at`` (the loader's interface, see
        ``abi``); False when the kernel would report an overflow."""
        data = self.encode(value, place)
        if data is None:
            return False
        image[at:at + len(data)] = data
        return True


RELOCATIONS = {r.number: r for r in (
    RelocationType(0, "R_X86_64_NONE", 0, False, "none", True),
    RelocationType(1, "R_X86_64_64", 8, False, "none", True),
    RelocationType(2, "R_X86_64_PC32", 4, True, "none", True),
    RelocationType(4, "R_X86_64_PLT32", 4, True, "none", True),
    # Absolute 32-bit: fail once the purgatory lies above 4 GiB (32) or
    # 2 GiB (32S), which top-down placement makes the common case.
    RelocationType(10, "R_X86_64_32", 4, False, "zero-extend", False),
    RelocationType(11, "R_X86_64_32S", 4, False, "sign-extend", False),
)}

# The psABI's names of every x86_64 type, for messages (pyelftools' table
# stops before 41 in some releases).
RELOCATION_NAMES = {
    0: "R_X86_64_NONE", 1: "R_X86_64_64", 2: "R_X86_64_PC32",
    3: "R_X86_64_GOT32", 4: "R_X86_64_PLT32", 5: "R_X86_64_COPY",
    6: "R_X86_64_GLOB_DAT", 7: "R_X86_64_JUMP_SLOT", 8: "R_X86_64_RELATIVE",
    9: "R_X86_64_GOTPCREL", 10: "R_X86_64_32", 11: "R_X86_64_32S",
    12: "R_X86_64_16", 13: "R_X86_64_PC16", 14: "R_X86_64_8",
    15: "R_X86_64_PC8", 16: "R_X86_64_DTPMOD64", 17: "R_X86_64_DTPOFF64",
    18: "R_X86_64_TPOFF64", 19: "R_X86_64_TLSGD", 20: "R_X86_64_TLSLD",
    21: "R_X86_64_DTPOFF32", 22: "R_X86_64_GOTTPOFF", 23: "R_X86_64_TPOFF32",
    24: "R_X86_64_PC64", 25: "R_X86_64_GOTOFF64", 26: "R_X86_64_GOTPC32",
    27: "R_X86_64_GOT64", 28: "R_X86_64_GOTPCREL64", 29: "R_X86_64_GOTPC64",
    30: "R_X86_64_GOTPLT64", 31: "R_X86_64_PLTOFF64", 32: "R_X86_64_SIZE32",
    33: "R_X86_64_SIZE64", 34: "R_X86_64_GOTPC32_TLSDESC",
    35: "R_X86_64_TLSDESC_CALL", 36: "R_X86_64_TLSDESC",
    37: "R_X86_64_IRELATIVE", 38: "R_X86_64_RELATIVE64",
    41: "R_X86_64_GOTPCRELX", 42: "R_X86_64_REX_GOTPCRELX",
    43: "R_X86_64_CODE_4_GOTPCRELX", 44: "R_X86_64_CODE_4_GOTTPOFF",
    45: "R_X86_64_CODE_4_GOTPC32_TLSDESC",
}


def relocation_name(number):
    return RELOCATION_NAMES.get(number, f"type {number}")


# kexec_file refuses SHT_REL on x86_64: kernel/kexec_file.c,
# kexec_apply_relocations() calls arch_kexec_apply_relocations(), which x86
# does not define; include/linux/kexec.h's default says "REL relocation
# unsupported." and fails.
RELA_ONLY = True

# --- Instructions ---------------------------------------------------------
# capstone's decoder for this machine, and where its names live.
CAPSTONE = ("CS_ARCH_X86", "CS_MODE_64")
CAPSTONE_CONSTANTS = "x86_const"
CAPSTONE_PREFIX = "X86_"
# Bytes at least one of which every x87/MMX/SSE/AVX/AVX-512 encoding holds:
# 0F (two-byte map: MMX, SSE, 3DNow!), C4/C5 (VEX), 62 (EVEX), 8F (XOP),
# D8-DF (x87), 9B (fwait). Only instructions holding one are decoded fully.
PREFILTER_BYTES = b"\x0f\xc4\xc5\x62\x8f\x9b" + bytes(range(0xD8, 0xE0))
INSTRUCTION_ADVICE = ("the purgatory runs with x87/SSE/AVX disabled (build "
                      "with -mgeneral-regs-only, -march=x86-64 at most)")
# CR4.OSFXSR and OSXSAVE are clear in purgatory, so these classes fault
# (#UD) or corrupt state the next kernel relies on. Spelled as capstone
# names (X86_GRP_*, X86_REG_* patterns, X86_INS_*), turned into capstone's
# numbers by the checker.
FORBIDDEN_GROUPS = {
    "FPU": "x87", "MMX": "MMX", "3DNOW": "MMX",
    "SSE1": "SSE", "SSE2": "SSE", "SSE3": "SSE", "SSSE3": "SSE",
    "SSE41": "SSE", "SSE42": "SSE", "SSE4A": "SSE", "AES": "SSE",
    "PCLMUL": "SSE", "SHA": "SSE",
    "AVX": "AVX", "AVX2": "AVX", "FMA": "AVX", "FMA4": "AVX", "F16C": "AVX",
    "XOP": "AVX", "AVX512": "AVX-512",
}
FORBIDDEN_REGISTERS = (            # register name pattern -> class
    (r"(ST|FP)\d+|FPSW", "x87"), (r"MM\d+", "MMX"), (r"XMM\d+", "SSE"),
    (r"YMM\d+", "AVX"), (r"(ZMM|K)\d+", "AVX-512"),
)
# Members of those groups that use only general registers and memory.
GENERAL_PURPOSE_INSTRUCTIONS = (
    "CRC32", "MOVNTI", "LFENCE", "MFENCE", "SFENCE", "PAUSE", "CLFLUSH",
    "PREFETCHNTA", "PREFETCHT0", "PREFETCHT1", "PREFETCHT2",
)
# Whole-state save and restore: neither a group nor registers in capstone.
STATE_SAVE_INSTRUCTIONS = (
    "FXSAVE", "FXSAVE64", "FXRSTOR", "FXRSTOR64", "XSAVE", "XSAVE64",
    "XRSTOR", "XRSTOR64", "XSAVEOPT", "XSAVEOPT64", "XSAVEC", "XSAVEC64",
    "XSAVES", "XSAVES64", "XRSTORS", "XRSTORS64",
)
STATE_SAVE_CLASS = "x87/SSE state"
# Widest wins when one instruction touches several classes.
CLASS_RANK = {"x87": 1, "MMX": 2, STATE_SAVE_CLASS: 3, "SSE": 3, "AVX": 4,
              "AVX-512": 5}

# --- The dispatched SIMD path (this tree's purgatory, SHA256=auto) ---------
# Checked with `check --simd dispatched` only (this tree's build step); every
# other purgatory, Linux's own included, keeps "no SIMD at all". Then the
# fpu-simd rule accepts instructions of these classes inside these functions
# (purgatory/sha256.h, arch/x86/sha256-ni.S), and the simd-dispatch rule
# proves they are reached only through SIMD_DISPATCH: every direct call or
# jump, RIP-relative address and relocation that lands in one of them comes
# from the dispatch (or from inside the function), no code falls through into
# one, the dispatch runs SIMD_FEATURE_TEST (CPUID) and each function writes
# SIMD_ENABLE (CR4: OSFXSR) before its first SIMD instruction and after its
# last one (the restore).
SIMD_FUNCTIONS = {"sha256_blocks_sha_ni": ("SSE",)}
SIMD_DISPATCH = "sha256_blocks"
SIMD_FEATURE_TEST = "cpuid"
SIMD_ENABLE = "cr4"

# Where this tree's purgatory leaves the SHA-256 path it took (one byte in
# .data, purgatory/sha256.h): the emulator reports it, a boot test can read
# it from the machine. Not part of the kernel's contract: other purgatories
# have no such symbol.
SHA256_PATH_SYMBOL = "purgatory_sha256_path"
SHA256_PATHS = ("unchosen", "generic", "bmi2", "sha-ni")
# What each path needs of the CPU, as /proc/cpuinfo names the CPUID bits
# the dispatch tests (purgatory/sha256.c, sha256_cpu_path()).
SHA256_PATH_CPU_FLAGS = {"generic": (), "bmi2": ("bmi2", "movbe"),
                         "sha-ni": ("sha_ni", "sse2", "ssse3", "sse4_1")}
