# SPDX-License-Identifier: GPL-2.0-only
"""Run a loaded purgatory in emulation up to the new kernel's entry.

The kernel's side is played exactly: load the purgatory at an address (see
``loader``), hash the segments with hashlib and store the region table and
digest, set ``entry64_regs`` (rbx = 0, rsi = boot params, rip = kernel +
0x200, rsp = ``stack_end``, a distinct value in every other register) and
jump to the entry on a CPU in the state the kernel leaves it (see
``machine``). The purgatory passes when execution reaches rip with all 16
general registers as set, without a fault and without writing a byte
outside its own image. With a corrupted segment it must never get there:
a purgatory that refuses spins forever, which shows as execution confined
to a few bytes of code for a long stretch of instructions.

Instructions are counted per executed translation block, with the block's
instruction count taken from capstone once per block: exact, deterministic,
and far cheaper than a Python hook per instruction.
"""

import struct
from dataclasses import dataclass, field

from capstone import CS_ARCH_X86, CS_MODE_64, Cs
from unicorn import (UC_HOOK_BLOCK, UC_HOOK_INTR, UC_HOOK_MEM_INVALID,
                     UC_HOOK_MEM_WRITE, UC_MEM_FETCH_PROT,
                     UC_MEM_FETCH_UNMAPPED, UC_MEM_READ_PROT,
                     UC_MEM_READ_UNMAPPED, UC_MEM_WRITE_PROT,
                     UC_MEM_WRITE_UNMAPPED, UcError)
from unicorn.x86_const import UC_X86_REG_EFLAGS, UC_X86_REG_RIP

from .. import abi
from ..errors import UserError
from ..elf import loader
from . import segments as seg
from .address_space import AddressSpace, page_align
from .machine import CPU_MODELS, CPU_MODELS_UNSUPPORTED, CPU_MODELS_WORK, DEFAULT_CPU, REACH, UC_REGISTER, UNREACHABLE, LongModeMachine

X86 = abi.x86_64
GENERAL_REGISTERS = X86.GENERAL_REGISTERS
ENTRY64_REGS = X86.ENTRY64_REGISTERS
PAGE_SIZE = X86.PAGE_SIZE

# "Spinning": this many instructions without leaving a window this small,
# then the same block entered twice with the same registers and flags (a
# loop that makes no progress; a long rep movsb makes progress).
SPIN_WINDOW = 64
SPIN_INSTRUCTIONS = 1 << 16
SPIN_STATE_REGISTERS = tuple(UC_REGISTER[name] for name in GENERAL_REGISTERS) + (
    UC_X86_REG_EFLAGS,)
# Give up after this many instructions, plus this many per byte hashed.
BASE_INSTRUCTION_LIMIT = 1 << 22
INSTRUCTIONS_PER_BYTE_LIMIT = 1000

EXCEPTION_NAMES = {0: "#DE", 1: "#DB", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD",
                   7: "#NM", 8: "#DF", 10: "#TS", 11: "#NP", 12: "#SS",
                   13: "#GP", 14: "#PF", 16: "#MF", 17: "#AC", 19: "#XM"}

ACCESS_NAMES = {UC_MEM_READ_UNMAPPED: "read", UC_MEM_WRITE_UNMAPPED: "write",
                UC_MEM_FETCH_UNMAPPED: "instruction fetch",
                UC_MEM_READ_PROT: "read", UC_MEM_WRITE_PROT: "write",
                UC_MEM_FETCH_PROT: "instruction fetch"}

HLT = b"\xf4"

# Outcomes; only ENTERED (or REFUSED, when a segment was corrupted) passes.
ENTERED = "entered"
REFUSED = "refused"
BAD_REGISTERS = "bad-registers"
STRAY_WRITE = "stray-write"
FAULT = "fault"
LIMIT = "instruction-limit"


def distinct_register_values():
    """A value per register that no other register, and no truncation to
    32 bits, can be mistaken for."""
    return {name: 0x8badf00d00000000 | (index + 1) << 24 | (index + 1) * 0x010101
            for index, name in enumerate(GENERAL_REGISTERS)}


def starting_register_values():
    """What the CPU holds on entry: different again from the values above,
    so a purgatory that forgets to load a register is caught."""
    return {name: 0xdeadbeef00000000 | (index + 1) * 0x1111
            for index, name in enumerate(GENERAL_REGISTERS) if name != "rsp"}


@dataclass
class RunResult:
    file: str
    address: int
    entry: int
    entry_source: str
    image_size: int
    regions: list
    bytes_hashed: int
    digest: str
    corrupted: dict
    rip: int
    expected_registers: dict
    outcome: str = None
    message: str = ""
    instructions: int = 0
    registers: dict = field(default_factory=dict)
    mismatched_registers: list = field(default_factory=list)
    # False where the kernel's purgatory checks no digest (powerpc): a
    # corrupted run then passes by entering, and says so.
    digest_checked: bool = True
    cpu: str = None                 # the emulated CPU model (x86_64)
    sha256_path: str = None         # what purgatory_sha256_path says, if any

    @property
    def passed(self):
        refuse = self.corrupted and self.digest_checked
        return self.outcome == (REFUSED if refuse else ENTERED)

    @property
    def instructions_per_byte(self):
        if self.outcome != ENTERED or not self.bytes_hashed:
            return None
        return self.instructions / self.bytes_hashed

    def as_dict(self):
        result = dict(self.__dict__)
        result["passed"] = self.passed
        result["instructions_per_byte"] = self.instructions_per_byte
        return result


class _Watch:
    """The hooks: instruction count, spin detection, stray writes, faults."""

    def __init__(self, machine, result, image_start, image_end, limit):
        self.machine, self.uc = machine, machine.uc
        self.result = result
        self.limit = limit
        self.capstone = Cs(CS_ARCH_X86, CS_MODE_64)
        self.block_sizes = {}
        self.window = (0, 0)
        self.window_instructions = 0
        self.spin_candidate = None      # (block address, registers)
        self.stopped = False
        uc = self.uc
        uc.hook_add(UC_HOOK_BLOCK, self.on_block)
        if image_start:
            uc.hook_add(UC_HOOK_MEM_WRITE, self.on_stray_write, begin=0, end=image_start - 1)
        uc.hook_add(UC_HOOK_MEM_WRITE, self.on_stray_write, begin=image_end,
                    end=(1 << 64) - 1)
        uc.hook_add(UC_HOOK_MEM_INVALID, self.on_invalid_access)
        uc.hook_add(UC_HOOK_INTR, self.on_exception)

    def stop(self, outcome, message):
        if not self.stopped:
            self.stopped = True
            self.result.outcome, self.result.message = outcome, message
        self.uc.emu_stop()

    def instruction_count(self, address, size):
        key = (address, size)
        count = self.block_sizes.get(key)
        if count is None:
            code = bytes(self.uc.mem_read(address, size))
            count = sum(1 for _ in self.capstone.disasm_lite(code, address))
            self.block_sizes[key] = count
        return count

    def instruction_at(self, address):
        """``mnemonic operands`` of the instruction at ``address``, or ''."""
        try:
            code = bytes(self.uc.mem_read(address, 16))
        except UcError:
            return ""
        for _, _, mnemonic, operands in self.capstone.disasm_lite(code, address, 1):
            return f"{mnemonic} {operands}".strip()
        return ""

    def on_block(self, uc, address, size, _user_data):
        if address == self.result.rip or self.machine.own_code(address):
            return
        count = self.instruction_count(address, size)
        self.result.instructions += count
        low, high = self.window
        low, high = min(low, address), max(high, address + size)
        if high - low > SPIN_WINDOW:
            low, high = address, address + size
            self.window_instructions = 0
            self.spin_candidate = None
        self.window = (low, high)
        self.window_instructions += count
        if self.window_instructions >= SPIN_INSTRUCTIONS:
            self.check_spin(address)
        if not self.stopped and self.result.instructions > self.limit:
            self.stop(LIMIT, f"did not reach the kernel entry within "
                      f"{self.limit} instructions")

    def check_spin(self, address):
        """After a long stay in a small window: the same block entered again
        with the same state is a loop that never ends."""
        state = (address, tuple(self.uc.reg_read(r) for r in SPIN_STATE_REGISTERS))
        if self.spin_candidate is None:
            self.spin_candidate = state
        elif self.spin_candidate[0] == address:
            if self.spin_candidate == state:
                self.stop(REFUSED, f"refused: digest mismatch (spins at {address:#x})")
            else:
                self.window_instructions = 0
                self.spin_candidate = None

    def on_stray_write(self, uc, _access, address, size, value, _user_data):
        rip = uc.reg_read(UC_X86_REG_RIP)
        self.stop(STRAY_WRITE, f"wrote {size} bytes at {address:#x}, outside "
                  f"its image, from rip {rip:#x}")

    def on_invalid_access(self, uc, access, address, size, _value, _user_data):
        rip = uc.reg_read(UC_X86_REG_RIP)
        self.stop(FAULT, f"fault: {ACCESS_NAMES.get(access, 'access')} of "
                  f"unmapped memory at {address:#x} from rip {rip:#x}")
        return False

    def on_exception(self, uc, number, _user_data):
        rip = uc.reg_read(UC_X86_REG_RIP)
        name = EXCEPTION_NAMES.get(number, f"vector {number}")
        instruction = self.instruction_at(rip)
        self.stop(FAULT, f"fault: CPU exception {name} at rip {rip:#x}"
                  + (f" ({instruction})" if instruction else ""))



def _kernel_side(loaded, segments, digest, space):
    """Fill the ABI symbols as the kernel does; return rip, the expected
    registers and the landing page when no segment is the kernel."""
    kernel = seg.find(segments, seg.KERNEL)
    landing = None
    if kernel:
        rip = kernel.address + X86.KERNEL_ENTRY_OFFSET
    else:
        landing = space.allocate(PAGE_SIZE, "the page standing for the kernel",
                                 seg.AUTO_PLACEMENT_BASE)
        rip = landing + X86.KERNEL_ENTRY_OFFSET
    loaded.set_symbol(X86.REGIONS_SYMBOL, seg.region_table(segments))
    loaded.set_symbol(X86.DIGEST_SYMBOL, digest)
    packed = loaded.get_symbol(X86.REGISTERS_SYMBOL, X86.ENTRY64_REGISTERS_SIZE)
    registers = dict(zip(ENTRY64_REGS, struct.unpack(f"<{len(ENTRY64_REGS)}Q", packed)))
    registers.update(distinct_register_values())
    registers.update(rbx=0, rip=rip, rsp=loaded.symbol_address(X86.STACK_END_SYMBOL))
    boot_params = seg.find(segments, seg.BOOT_PARAMS)
    if boot_params:
        registers["rsi"] = boot_params.address
    loaded.set_symbol(X86.REGISTERS_SYMBOL, struct.pack(
        f"<{len(ENTRY64_REGS)}Q", *(registers[name] for name in ENTRY64_REGS)))
    return rip, registers, landing


def _judge_arrival(machine, result):
    """Execution stopped by itself: at rip, or after a hlt."""
    actual = machine.registers()
    result.registers = actual
    if actual["rip"] != result.rip:
        if bytes(machine.uc.mem_read(actual["rip"] - 1, 1)) == HLT:
            result.outcome = REFUSED
            result.message = (f"refused: halted with interrupts off before "
                              f"{actual['rip']:#x}")
        else:
            result.outcome = FAULT
            result.message = f"fault: emulation stopped at rip {actual['rip']:#x}"
        return
    judge_registers(result, actual, GENERAL_REGISTERS,
                    f"all {len(GENERAL_REGISTERS)} registers as set")


def judge_registers(result, actual, names, as_set):
    """At the kernel's entry: the registers ``names`` as expected (else
    BAD_REGISTERS), and ENTERED, said with ``as_set`` when nothing was
    corrupted (every architecture's emulation ends here)."""
    expected = result.expected_registers
    result.mismatched_registers = [name for name in names
                                   if actual[name] != expected[name]]
    if result.mismatched_registers:
        result.outcome = BAD_REGISTERS
        result.message = "entered the kernel with wrong registers: " + ", ".join(
            f"{name}={actual[name]:#x} (set {expected[name]:#x})"
            for name in result.mismatched_registers)
    elif result.corrupted:
        result.outcome = ENTERED
        result.message = (f"entered the kernel at {result.rip:#x} although "
                          f"segment {result.corrupted['region']} was corrupted")
    else:
        result.outcome = ENTERED
        result.message = f"entered the kernel at {result.rip:#x} with {as_set}"


def new_result(loaded, segments, digest, corruption, rip, expected):
    """The RunResult of a run about to start (every architecture's)."""
    return RunResult(
        file=loaded.name, address=loaded.address, entry=loaded.entry,
        entry_source=loaded.entry_source, image_size=len(loaded.image),
        regions=[{"name": s.name, "start": s.address, "length": s.size} for s in segments],
        bytes_hashed=sum(s.size for s in segments), digest=digest.hex(),
        corrupted=dict(zip(("region", "offset", "mask"), (*corruption, 0xff)[:3]))
        if corruption else None,
        rip=rip, expected_registers=expected)


def machine_of(module, name):
    """The emulation of another architecture: the module
    ``emulate/<abi NAME>.py`` with ``run(loaded, spec, corruption,
    max_instructions) -> RunResult``."""
    import importlib
    try:
        return importlib.import_module(f"{__package__}.{module.NAME}")
    except ModuleNotFoundError:
        raise UserError(f"{name}: no emulator for {module.NAME} purgatories "
                        "here yet (check and load work)") from None


def cannot_run_here(module, name, address=None):
    """Why a purgatory of the ABI ``module`` (placed at ``address``, if
    given) cannot run here, or None: the emulation its machine needs is
    missing (ppc64le without QEMU, s390x on a Unicorn without control
    registers: each machine's ``refused()``), or the address is beyond
    what this Unicorn reaches (x86_64 at or above 1 TiB without its
    virtual TLB)."""
    if module is X86:
        return UNREACHABLE if address is not None and address >= REACH else None
    refused = getattr(machine_of(module, name), "refused", None)
    return refused() if refused else None


def machine_abi_of(data, name):
    """The ABI module of the purgatory in ``data`` (UserError if none)."""
    return _parsed_with_abi(data, name)[1]


def _parsed_with_abi(data, name):
    """``data`` parsed, and the ABI module of its machine."""
    from ..elf.reader import damaged_elf_is_user_error, parse_elf
    elf = parse_elf(data, name)
    with damaged_elf_is_user_error(name):
        return elf, loader.machine_abi(elf, name)


def run(data, name, address=None, spec=seg.DEFAULT_SPEC,
        corruption=None, entry_from=X86.ENTRY_FROM_SYMBOL,
        max_instructions=None, segments_limit=seg.DEFAULT_LIMIT,
        crash=False, cpu=None):
    """Load the purgatory in ``data`` at ``address`` and run it against the
    segments of ``spec`` (at most ``segments_limit`` bytes of them, refused
    before anything is loaded); ``corruption`` is (segment name, offset[,
    mask]), applied after the digest was taken; ``address`` None is the
    middle of the architecture's test addresses (4 GiB + 4 KiB on x86_64).
    ``crash`` plays a crash kernel's (kdump) path where the architecture's
    module has one (``run_crash``). ``cpu`` (x86_64 only) is a key of
    machine.CPU_MODELS, what the emulated CPU reports in CPUID and runs
    (default: baseline). Returns a RunResult."""
    if cpu is not None and cpu not in CPU_MODELS:
        raise UserError(f"--cpu: unknown CPU model {cpu!r} (choose one of: "
                        f"{', '.join(CPU_MODELS)})")
    if cpu not in (None, DEFAULT_CPU) and not CPU_MODELS_WORK:
        raise UserError(f"--cpu {cpu}: {CPU_MODELS_UNSUPPORTED}")
    elf, module = _parsed_with_abi(data, name)
    machine = X86 if module is X86 else machine_of(module, name)
    if isinstance(spec, str):
        if spec == seg.DEFAULT_SPEC:
            spec = getattr(machine, "DEFAULT_SPEC", spec)
        spec = seg.parse_spec(spec, segments_limit)
    if address is None:
        address = module.TEST_ADDRESSES[1]
    loaded = loader.load_parsed(elf, data, name, address, entry_from)
    if crash:
        if not hasattr(machine, "run_crash"):
            raise UserError(f"{name}: --crash: the kdump path is not emulated "
                            f"for {loaded.abi.NAME} (it is for s390x and ppc64le)")
        return machine.run_crash(loaded, spec, corruption, max_instructions)
    if loaded.abi is not X86:
        if cpu is not None:
            raise UserError(f"--cpu: {name} is a {loaded.abi.NAME} purgatory; "
                            "CPU models are x86_64's only")
        return machine.run(loaded, spec, corruption, max_instructions)
    space = AddressSpace(X86.IDENTITY_MAP_LIMIT, PAGE_SIZE)
    space.reserve(loaded.address, page_align(len(loaded.image), PAGE_SIZE), f"the purgatory {name}")
    segments = spec
    seg.place(segments, space)
    digest = seg.digest(segments)
    rip, registers, landing = _kernel_side(loaded, segments, digest, space)
    if corruption:
        seg.corrupt(segments, *corruption)
    result = new_result(loaded, segments, digest, corruption, rip, registers)
    bytes_hashed = result.bytes_hashed
    blobs = [(loaded.address, loaded.image)]
    blobs += [(s.address, s) for s in segments if s.size]
    if landing is not None:
        blobs.append((landing, bytes(PAGE_SIZE)))
    for (address, data), what in zip(blobs, ["the purgatory", *(
            f"segment {s.name}" for s in segments if s.size), "the kernel's page"]):
        size = data.size if isinstance(data, seg.Segment) else len(data)
        if address + size > REACH:
            raise UserError(f"{name}: {what} at {address:#x}: {UNREACHABLE}")
    machine = LongModeMachine(blobs, space, cpu or DEFAULT_CPU)
    machine.set_registers(starting_register_values())
    if max_instructions is None:
        max_instructions = BASE_INSTRUCTION_LIMIT + INSTRUCTIONS_PER_BYTE_LIMIT * bytes_hashed
    watch = _Watch(machine, result, loaded.address, loaded.end, max_instructions)
    try:
        machine.start(loaded.entry, rip)
    except UcError as e:
        at = machine.uc.reg_read(UC_X86_REG_RIP)
        instruction = watch.instruction_at(at)
        watch.stop(FAULT, f"fault: {e} at rip {at:#x}"
                   + (f" ({instruction})" if instruction else ""))
    if not watch.stopped:
        _judge_arrival(machine, result)
    else:
        result.registers = machine.registers()
    result.cpu = cpu or DEFAULT_CPU
    result.sha256_path = _sha256_path(machine, loaded)
    return result


def _sha256_path(machine, loaded):
    """The SHA-256 path this tree's purgatory says it took (None for a
    purgatory without the symbol)."""
    try:
        address = loaded.symbol_address(X86.SHA256_PATH_SYMBOL)
    except UserError:
        return None
    value = machine.uc.mem_read(address, 1)[0]
    return (X86.SHA256_PATHS[value] if value < len(X86.SHA256_PATHS)
            else f"unknown ({value})")
