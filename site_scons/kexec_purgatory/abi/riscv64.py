# SPDX-License-Identifier: GPL-2.0-only
"""The contract between the riscv64 kernel and its purgatory, as data.

Read from Linux 6.12's sources, cited per fact (the same as the x86_64
module: nothing here imports pyelftools, capstone or unicorn). riscv's
loader is its own: ``arch/riscv/kernel/machine_kexec_file.c``,
``arch_kexec_apply_relocations_add()``, patches instruction fields, checks
no overflow at all, and applies ``R_RISCV_PCREL_HI20`` to the ``auipc``
*and the instruction after it*, leaving the ``R_RISCV_PCREL_LO12_I`` it
expects there with nothing to do.
"""

import struct
from dataclasses import dataclass

NAME = "riscv64"
E_MACHINE = "EM_RISCV"
ELF_CLASS = 64
LITTLE_ENDIAN = True
# Kbuild's ARCH, the prefix of Debian's cross toolchain for it, and
# `uname -m` of a host that builds it without one (verify-kernel).
KBUILD_ARCH = "riscv"
DEBIAN_CROSS_COMPILE = "riscv64-linux-gnu-"
HOST_MACHINE = "riscv64"

PAGE_SIZE = 0x1000
# arch/riscv/kernel/kexec_elf.c, elf_find_pbase(): the new kernel goes at a
# PMD_SIZE (2 MiB) aligned address, bottom-up from the lowest p_paddr; then
# arch/riscv/kernel/machine_kexec_file.c, load_extra_segments(): the
# purgatory's kexec_buf has buf_min = kernel_start + kernel_len, buf_max =
# ULONG_MAX, top_down (kernel/kexec_file.c, kexec_load_purgatory()). So
# there is no fixed floor: the purgatory lies above the new kernel's image,
# wherever RAM is (0x80000000 on QEMU's virt board). One page is the lowest
# address a non-empty kernel image at 0 leaves.
MIN_LOAD_ADDRESS = PAGE_SIZE
# The purgatory runs with satp = 0 (Bare: physical addresses, see below);
# RV64 physical addresses have 56 bits (the privileged spec's Sv39/48/57 PPN).
PHYSICAL_ADDRESS_LIMIT = 1 << 56
# Where `scons test-run` runs it (`run` defaults to the middle): where RAM
# starts on most boards (+4 MiB), 64 GiB, and 2^46.
TEST_ADDRESSES = (0x80400000, 1 << 36, 1 << 46)

# --- Symbols --------------------------------------------------------------
# Looked up by kernel/kexec_file.c, kexec_purgatory_find_symbol() and
# written by kexec_purgatory_get_set_symbol() (exact st_size, not in NOBITS),
# as on every architecture.
ENTRY_SYMBOL = "purgatory_start"
REGIONS_SYMBOL = "purgatory_sha_regions"
DIGEST_SYMBOL = "purgatory_sha256_digest"
# arch/riscv/kernel/machine_kexec_file.c, load_extra_segments():
# kexec_purgatory_get_set_symbol(image, "riscv_kernel_entry", &kernel_start,
# sizeof(kernel_start), 0) -- the new kernel's physical entry (image->start
# as arch/riscv/kernel/kexec_elf.c, elf_find_pbase() computed it), 8 bytes.
KERNEL_ENTRY_SYMBOL = "riscv_kernel_entry"
KERNEL_ENTRY_SIZE = 8

# kernel/kexec_file.c, kexec_calculate_store_digests(): struct
# kexec_sha_region {u64 start, len}[KEXEC_SEGMENT_MAX] and a SHA-256 digest.
MAX_REGIONS = 16
REGION_FORMAT = "<QQ"
REGION_SIZE = struct.calcsize(REGION_FORMAT)
REGIONS_SIZE = MAX_REGIONS * REGION_SIZE
DIGEST_SIZE = 32

SYMBOLS = {
    ENTRY_SYMBOL: None,
    REGIONS_SYMBOL: REGIONS_SIZE,
    DIGEST_SYMBOL: DIGEST_SIZE,
    KERNEL_ENTRY_SYMBOL: KERNEL_ENTRY_SIZE,
}

# --- Entry ----------------------------------------------------------------
# kernel/kexec_file.c, kexec_purgatory_setup_sechdrs(): the global
# purgatory_start in a loaded executable section, else the first executable
# section containing e_entry (Kbuild links with ld -r -e purgatory_start).
ENTRY_FROM_SYMBOL = ENTRY_SYMBOL
ENTRY_FROM_E_ENTRY = "e_entry"
ENTRY_RULES = (ENTRY_FROM_SYMBOL, ENTRY_FROM_E_ENTRY)

# The hart the old kernel leaves (arch/riscv/kernel/machine_kexec.c,
# machine_kexec(), calls riscv_kexec_relocate -- or riscv_kexec_norelocate
# for a crash kernel -- in arch/riscv/kernel/kexec_relocate.S with
# (first_ind_entry, jump_addr = image->start, fdt_addr, this_hart_id,
# va_pa_offset)): S-mode, satp = 0 (Bare, physical addressing), sie = sip =
# 0, a0 = hart id, a1 = the FDT's physical address, a2 = the purgatory's
# entry; a3-a7, s0-s11, t0-t6 zero; sepc, scause, sscratch zero; ra, sp,
# gp and tp whatever the old kernel held. sstatus.FS and VS stay Off, as
# the kernel keeps them (arch/riscv/kernel/head.S, "li t0, SR_FS_VS; csrc
# CSR_STATUS, t0"): any F, D or V instruction traps as illegal.
# arch/riscv/purgatory/entry.S, purgatory_start: sets sp to its own stack,
# keeps a0/a1 in s0/s1, calls purgatory() (the digest check, which spins
# forever on a mismatch), then jumps to riscv_kernel_entry with a0 = hart
# id and a1 = FDT, the next kernel's boot protocol.
ENTRY_REGISTERS = ("a0", "a1", "a2")
KERNEL_ARGUMENT_REGISTERS = ("a0", "a1")

# --- Relocations ----------------------------------------------------------
# arch/riscv/kernel/machine_kexec_file.c, arch_kexec_apply_relocations_add():
# val = S + A (S = st_value + the section's new sh_addr, 0 for SHN_ABS;
# st_shndx >= e_shnum fails "Invalid section"), addr = the place. No type
# checks overflow: a value that does not fit the field is truncated.
U64 = (1 << 64) - 1


def _rv_x(x, shift, bits):                 # RV_X()
    return (x >> shift) & ((1 << bits) - 1)


def _itype(x):                             # ENCODE_ITYPE_IMM()
    return _rv_x(x, 0, 12) << 20


def _btype(x):                             # ENCODE_BTYPE_IMM()
    return (_rv_x(x, 1, 4) << 8 | _rv_x(x, 5, 6) << 25
            | _rv_x(x, 11, 1) << 7 | _rv_x(x, 12, 1) << 31)


def _utype(x):                             # ENCODE_UTYPE_IMM()
    return _rv_x(x, 12, 20) << 12


def _jtype(x):                             # ENCODE_JTYPE_IMM()
    return (_rv_x(x, 1, 10) << 21 | _rv_x(x, 11, 1) << 20
            | _rv_x(x, 12, 8) << 12 | _rv_x(x, 20, 1) << 31)


def _cbtype(x):                            # ENCODE_CBTYPE_IMM()
    return (_rv_x(x, 1, 2) << 3 | _rv_x(x, 3, 2) << 10 | _rv_x(x, 5, 1) << 2
            | _rv_x(x, 6, 2) << 5 | _rv_x(x, 8, 1) << 12)


def _cjtype(x):                            # ENCODE_CJTYPE_IMM()
    return (_rv_x(x, 1, 3) << 3 | _rv_x(x, 4, 1) << 11 | _rv_x(x, 5, 1) << 2
            | _rv_x(x, 6, 1) << 7 | _rv_x(x, 7, 1) << 6 | _rv_x(x, 8, 2) << 9
            | _rv_x(x, 10, 1) << 8 | _rv_x(x, 11, 1) << 12)


def high_part(x):                          # RISCV_CONST_HIGH_PART()
    return (x + 0x800) & ~0xfff & U64


def low_part(x):                           # RISCV_CONST_LOW_PART()
    return (x - high_part(x)) & U64


def _ujtype(x):                            # ENCODE_UJTYPE_IMM(): auipc + next
    return _utype(high_part(x)) | _itype(low_part(x)) << 32


def _uitype(x):                            # ENCODE_UITYPE_IMM()
    return _utype(x) | _itype(x) << 32


# kind -> (encoder, the field it cleans first: CLEAN_IMM(type, x) =
# ~ENCODE_type_IMM(-1) & x; for the auipc pair the kernel cleans UITYPE and
# encodes UJTYPE). RVC: the kernel reads and writes a u32, but the field is
# in the low half and the high half comes back unchanged: 2 bytes change.
_FIELDS = {
    "btype": (_btype, _btype(U64)), "jtype": (_jtype, _jtype(U64)),
    "ujtype": (_ujtype, _uitype(U64)),
    "cbtype": (_cbtype, _cbtype(U64)), "cjtype": (_cjtype, _cjtype(U64)),
}


@dataclass(frozen=True)
class RelocationType:
    """One relocation type riscv's loader knows: how it patches the place."""
    number: int
    name: str
    kind: str            # a _FIELDS key, "add", "sub", "set" or "none"
    width: int           # bytes changed; 0 for the types the loader skips
    pc_relative: bool    # the field holds val - addr
    anywhere: bool = True

    def fits(self, value):
        """riscv's loader checks no overflow: every value is written."""
        return True

    def apply(self, image, at, value, place):
        """Patch ``image`` at ``at`` as the kernel does (see ``abi``)."""
        if not self.width:
            return True
        if self.pc_relative:
            value = (value - place) & U64
        mask = (1 << 8 * self.width) - 1
        old = int.from_bytes(image[at:at + self.width], "little")
        if self.kind in _FIELDS:
            encode, field = _FIELDS[self.kind]
            new = (old & ~field) | encode(value)
        elif self.kind == "add":
            new = old + value
        elif self.kind == "sub":
            new = old - value
        else:                                   # "set": R_RISCV_64
            new = value
        image[at:at + self.width] = (new & mask).to_bytes(self.width, "little")
        return True

    def encode(self, value, place, old=bytes(8)):
        """The bytes written over ``old`` (tests and docs)."""
        image = bytearray(old[:self.width])
        self.apply(image, 0, value, place)
        return bytes(image)


R_RISCV_PCREL_HI20 = 23
R_RISCV_PCREL_LO12_I = 24

RELOCATIONS = {r.number: r for r in (
    RelocationType(2, "R_RISCV_64", "set", 8, False),
    RelocationType(16, "R_RISCV_BRANCH", "btype", 4, True),
    RelocationType(17, "R_RISCV_JAL", "jtype", 4, True),
    # CALL, CALL_PLT and PCREL_HI20: auipc and the instruction after it
    # (jalr, or the addi/ld of the PCREL_LO12_I), one u64.
    RelocationType(18, "R_RISCV_CALL", "ujtype", 8, True),
    RelocationType(19, "R_RISCV_CALL_PLT", "ujtype", 8, True),
    RelocationType(R_RISCV_PCREL_HI20, "R_RISCV_PCREL_HI20", "ujtype", 8, True),
    # "It has been applied by R_RISCV_PCREL_HI20 sym": skipped, so it is
    # right only when it is the instruction right after its HI20 (the
    # reloc-pair rule checks that; the kernel loads it wrong silently).
    RelocationType(R_RISCV_PCREL_LO12_I, "R_RISCV_PCREL_LO12_I", "none", 0, True),
    # ADD/SUB pairs at one place leave a difference of two addresses in
    # the purgatory, the same wherever it lies (reloc-pair checks the pair).
    RelocationType(34, "R_RISCV_ADD16", "add", 2, False),
    RelocationType(35, "R_RISCV_ADD32", "add", 4, False),
    RelocationType(38, "R_RISCV_SUB16", "sub", 2, False),
    RelocationType(39, "R_RISCV_SUB32", "sub", 4, False),
    RelocationType(43, "R_RISCV_ALIGN", "none", 0, False),
    RelocationType(44, "R_RISCV_RVC_BRANCH", "cbtype", 2, True),
    RelocationType(45, "R_RISCV_RVC_JUMP", "cjtype", 2, True),
    RelocationType(51, "R_RISCV_RELAX", "none", 0, False),
)}
# Every other number, R_RISCV_NONE (0) included, fails "Unknown rela
# relocation: %d": GOT_HI20 (20, from -fPIE), PCREL_LO12_S (25), HI20/LO12
# (26-28, -mcmodel=medlow), ADD64/SUB64 (36/40), SET*/SUB6, 32_PCREL...
# (ADD16/SUB16/ADD32/SUB32 came in 2023 for .alternative: before, "Unknown
# rela relocation: 34/38".)

# Pairs the loader relies on without checking (the reloc-pair rule).
ADD_SUB_PAIRS = {34: 38, 35: 39}

# include/uapi/linux/elf-em.h / arch/riscv/include/uapi/asm/elf.h and the
# psABI (pyelftools' table lacks the newer ones).
RELOCATION_NAMES = {
    0: "R_RISCV_NONE", 1: "R_RISCV_32", 2: "R_RISCV_64", 3: "R_RISCV_RELATIVE",
    4: "R_RISCV_COPY", 5: "R_RISCV_JUMP_SLOT", 6: "R_RISCV_TLS_DTPMOD32",
    7: "R_RISCV_TLS_DTPMOD64", 8: "R_RISCV_TLS_DTPREL32",
    9: "R_RISCV_TLS_DTPREL64", 10: "R_RISCV_TLS_TPREL32",
    11: "R_RISCV_TLS_TPREL64", 12: "R_RISCV_TLSDESC", 16: "R_RISCV_BRANCH",
    17: "R_RISCV_JAL", 18: "R_RISCV_CALL", 19: "R_RISCV_CALL_PLT",
    20: "R_RISCV_GOT_HI20", 21: "R_RISCV_TLS_GOT_HI20",
    22: "R_RISCV_TLS_GD_HI20", 23: "R_RISCV_PCREL_HI20",
    24: "R_RISCV_PCREL_LO12_I", 25: "R_RISCV_PCREL_LO12_S",
    26: "R_RISCV_HI20", 27: "R_RISCV_LO12_I", 28: "R_RISCV_LO12_S",
    29: "R_RISCV_TPREL_HI20", 30: "R_RISCV_TPREL_LO12_I",
    31: "R_RISCV_TPREL_LO12_S", 32: "R_RISCV_TPREL_ADD", 33: "R_RISCV_ADD8",
    34: "R_RISCV_ADD16", 35: "R_RISCV_ADD32", 36: "R_RISCV_ADD64",
    37: "R_RISCV_SUB8", 38: "R_RISCV_SUB16", 39: "R_RISCV_SUB32",
    40: "R_RISCV_SUB64", 41: "R_RISCV_GNU_VTINHERIT",
    42: "R_RISCV_GNU_VTENTRY", 43: "R_RISCV_ALIGN", 44: "R_RISCV_RVC_BRANCH",
    45: "R_RISCV_RVC_JUMP", 46: "R_RISCV_RVC_LUI", 47: "R_RISCV_GPREL_I",
    48: "R_RISCV_GPREL_S", 49: "R_RISCV_TPREL_I", 50: "R_RISCV_TPREL_S",
    51: "R_RISCV_RELAX", 52: "R_RISCV_SUB6", 53: "R_RISCV_SET6",
    54: "R_RISCV_SET8", 55: "R_RISCV_SET16", 56: "R_RISCV_SET32",
    57: "R_RISCV_32_PCREL", 58: "R_RISCV_IRELATIVE", 59: "R_RISCV_PLT32",
    60: "R_RISCV_SET_ULEB128", 61: "R_RISCV_SUB_ULEB128",
    62: "R_RISCV_TLSDESC_HI20", 63: "R_RISCV_TLSDESC_LOAD_LO12",
    64: "R_RISCV_TLSDESC_ADD_LO12", 65: "R_RISCV_TLSDESC_CALL",
}


def relocation_name(number):
    return RELOCATION_NAMES.get(number, f"type {number}")


def relocation_pair_problems(relocations):
    """What the loader assumes of neighbouring relocations and does not
    check, for one relocated section: ``relocations`` is a list of
    (place, type, value) with value = S + A inside the section (None for
    a symbol of another section). Yields (place, type, message) for each broken assumption."""
    by_place = {}
    for place, number, value in relocations:
        by_place.setdefault(place, []).append((number, value))
    for place, number, value in relocations:
        types = [n for n, _ in by_place[place]]
        if number == R_RISCV_PCREL_HI20:
            follower = [v for n, v in by_place.get(place + 4, ())
                        if n == R_RISCV_PCREL_LO12_I]
            if not follower:
                yield (place, number, "the kernel writes the low 12 bits into "
                       "the instruction right after it, but no "
                       "R_RISCV_PCREL_LO12_I is there")
        elif number == R_RISCV_PCREL_LO12_I:
            partners = [n for n, _ in by_place.get(value, ())]
            if any(n not in RELOCATIONS for n in partners):
                continue        # its GOT_HI20... is refused by reloc-type
            if value != place - 4 or R_RISCV_PCREL_HI20 not in partners:
                at = "in another section" if value is None else f"at {value:#x}"
                yield (place, number, f"its R_RISCV_PCREL_HI20 is {at}, "
                       "not the instruction right before it: the "
                       "kernel skips the LO12 and writes the HI20's low bits "
                       "into whatever follows the HI20")
        elif number in ADD_SUB_PAIRS and ADD_SUB_PAIRS[number] not in types:
            yield (place, number, "an ADD without its SUB at the same place "
                   "leaves an absolute address, truncated without a check")


# riscv's kexec_file applies RELA only: kernel/kexec_file.c,
# kexec_apply_relocations() calls arch_kexec_apply_relocations(), which
# riscv does not define ("REL relocation unsupported.").
RELA_ONLY = True

# --- Instructions ---------------------------------------------------------
CAPSTONE = ("CS_ARCH_RISCV", "CS_MODE_RISCV64", "CS_MODE_RISCVC")
CAPSTONE_CONSTANTS = "riscv_const"
CAPSTONE_PREFIX = "RISCV_"
INSTRUCTION_ADVICE = ("the purgatory runs with sstatus.FS and VS off: F, D "
                      "and V instructions trap (build with "
                      "-march=rv64imac -mabi=lp64, no F/D/V)")
# capstone 5's groups (HASSTDEXT*, ISRV*); a name this capstone lacks (V,
# which capstone 5 does not decode; older groups) is skipped.
FORBIDDEN_GROUPS = {
    "HASSTDEXTF": "F", "ISRVF": "F", "ISRV64F": "F", "ISRV32CF": "F",
    "HASSTDEXTD": "D", "ISRVD": "D", "ISRV64D": "D", "ISRVCD": "D",
    "HASSTDEXTV": "V", "HASSTDEXTZVE32X": "V", "HASSTDEXTZVE64X": "V",
}
# f0-f31 (capstone 5: F0_32/F0_64 ...); not "FP", capstone's alias for s0.
FORBIDDEN_REGISTERS = (
    (r"F\d+(_32|_64)?", "F"),
    (r"V\d+", "V"),
)
GENERAL_PURPOSE_INSTRUCTIONS = ()
STATE_SAVE_INSTRUCTIONS = ()
STATE_SAVE_CLASS = "F/D state"
CLASS_RANK = {"F": 1, STATE_SAVE_CLASS: 1, "D": 2, "V": 3}

# The V extension's encodings (RISC-V unprivileged spec, "V" chapter):
# OP-V (major opcode 1010111) for arithmetic and vset*; vector loads and
# stores are LOAD-FP/STORE-FP (0000111/0100111) with width 0, 5, 6 or 7
# (the F/D widths 1-4 decode as flw/fld..., which capstone knows).
_OP_V = 0b1010111
_LOAD_FP, _STORE_FP = 0b0000111, 0b0100111
_VECTOR_WIDTHS = (0, 5, 6, 7)


def undecodable(code, pos):
    """(length, class or None, text) of the instruction at ``pos`` that
    capstone could not decode: RISC-V's length is in its low bits (11: 32
    bits, else a 16-bit RVC one), so the next one is found without
    decoding this one from its middle (Zbb, Zicbom... are not known to
    capstone 5.0, nor is V)."""
    if pos + 2 > len(code) or code[pos] & 3 != 3:
        return 2, None, ""
    if pos + 4 > len(code):
        return 2, None, ""
    word = int.from_bytes(code[pos:pos + 4], "little")
    opcode, width = word & 0x7f, (word >> 12) & 7
    if opcode == _OP_V or (opcode in (_LOAD_FP, _STORE_FP)
                           and width in _VECTOR_WIDTHS):
        return 4, "V", f".insn 0x{word:08x} (a V-extension instruction)"
    return 4, None, ""

# arch_kexec_apply_relocations_add() checks SHN_ABS and st_shndx >= e_shnum
# only: an undefined symbol takes sechdrs[0].sh_addr (0), so the loader
# loads a purgatory that calls address 0 without a word (x86_64 refuses
# "Undefined symbol"); a COMMON one (0xfff2) fails "Invalid section". The
# null symbol of ALIGN and RELAX is harmless: those write nothing.
UNDEFINED_SYMBOLS_REFUSED = False
