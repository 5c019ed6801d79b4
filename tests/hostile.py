# SPDX-License-Identifier: GPL-2.0-only
"""Hostile input for every command: mutated purgatories, and the contract
each command keeps on them.

A ``Seed`` is a real purgatory.ro with the places parsers trip over found
by pyelftools (the ELF header, each section header, symbol and relocation
entry). ``mutants(seed)`` is a hypothesis strategy of damaged copies:
truncated, bytes overwritten (in the header and tables or anywhere), or
fields of those records set to hostile values (0, all ones, 2^31, the file
size, huge sizes and offsets), built back with pyelftools' own structs.

A ``Worker`` is a forked child that runs the ``kexec-purgatory`` command in
process, one call at a time, under an address-space limit; it reports the
exit status, stdout, stderr, any exception that escaped (a traceback) and
how much the call grew the peak resident memory (``VmHWM``, reset before
each call through ``/proc/self/clear_refs``). A call that does not answer
in time is a hang. ``contract_violations`` says what a call broke.
"""

import contextlib
import gc
import io
import multiprocessing
import os
import resource
import time
import traceback
from pathlib import Path

from elftools.elf.elffile import ELFFile
from hypothesis import strategies as st

MIB = 1 << 20
# What one call may add to the peak resident memory: the 200 MB of the
# contract (the segments asked for are a few KiB, and the purgatory a
# mutant can make the tools hold is capped far below this).
MEMORY_GROWTH_LIMIT = 200 * 1000 * 1000
# The worker's address-space limit above its size at start, a safety net
# that keeps a runaway call from taking the machine (Unicorn alone reserves
# 1 GiB for its code buffer, until the collector frees the instance).
ADDRESS_SPACE_MARGIN = 6 << 30
CALL_TIMEOUT = 60

INTERESTING = (0, 1, 2, 3, 4, 7, 8, 0x10, 0x40, 0xff, 0x100, 0xfff, 0x1000,
               0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 32,
               1 << 40, 8 << 30, 1 << 62, 1 << 63, (1 << 64) - 1,
               (1 << 64) - 0x1000)

HEADER_FIELDS = ("e_type", "e_machine", "e_entry", "e_shoff", "e_flags",
                 "e_shentsize", "e_shnum", "e_shstrndx")
SECTION_FIELDS = ("sh_name", "sh_type", "sh_flags", "sh_addr", "sh_offset",
                  "sh_size", "sh_link", "sh_info", "sh_addralign",
                  "sh_entsize")
SYMBOL_FIELDS = ("st_name", "st_shndx", "st_value", "st_size", "bind", "type")
RELOCATION_FIELDS = ("r_offset", "r_info_sym", "r_info_type", "r_addend")
BINDS = ("STB_LOCAL", "STB_GLOBAL", "STB_WEAK")
TYPES = ("STT_NOTYPE", "STT_OBJECT", "STT_FUNC", "STT_SECTION", "STT_FILE")
WIDTH = {"sh_name": 32, "sh_type": 32, "sh_link": 32, "sh_info": 32,
         "st_name": 32, "st_shndx": 16, "e_type": 16, "e_machine": 16,
         "e_shentsize": 16, "e_shnum": 16, "e_shstrndx": 16, "e_flags": 32,
         "r_info_sym": 32, "r_info_type": 32}


class Seed:
    """A good object and where its records lie, as pyelftools reads them."""

    def __init__(self, path, name):
        self.path = Path(path)
        self.name = name
        self.data = self.path.read_bytes()
        elf = ELFFile(io.BytesIO(self.data))
        self.machine = elf.header["e_machine"]
        structs = elf.structs
        header = elf.header
        # (struct, offset, fields) of every record a mutation may change
        self.records = [(structs.Elf_Ehdr, 0, HEADER_FIELDS)]
        self.named = {}         # ("section" or "symbol", name) -> record
        self.tables = [(0, header["e_ehsize"])]
        shoff, entsize = header["e_shoff"], header["e_shentsize"]
        self.tables.append((shoff, header["e_shnum"] * entsize))
        for index, section in enumerate(elf.iter_sections()):
            self.named.setdefault(("section", section.name), len(self.records))
            self.records.append((structs.Elf_Shdr, shoff + index * entsize,
                                 SECTION_FIELDS))
            kind = section["sh_type"]
            if kind in ("SHT_SYMTAB", "SHT_RELA", "SHT_STRTAB"):
                self.tables.append((section["sh_offset"], section["sh_size"]))
            if kind in ("SHT_SYMTAB", "SHT_RELA") and section["sh_entsize"]:
                record = structs.Elf_Sym if kind == "SHT_SYMTAB" else structs.Elf_Rela
                fields = SYMBOL_FIELDS if kind == "SHT_SYMTAB" else RELOCATION_FIELDS
                count = section["sh_size"] // section["sh_entsize"]
                if kind == "SHT_SYMTAB":
                    for i, sym in enumerate(section.iter_symbols()):
                        self.named.setdefault(("symbol", sym.name),
                                              len(self.records) + i)
                self.records += [(record, section["sh_offset"] + i * section["sh_entsize"],
                                  fields) for i in range(count)]
        self.little_endian = elf.little_endian

    def field(self, kind, name, field, value):
        """The mutation setting ``field`` of section or symbol ``name``."""
        return ("field", self.named[kind, name], field, value)

    def section(self, name):
        """pyelftools' view of one of the seed's sections."""
        return ELFFile(io.BytesIO(self.data)).get_section_by_name(name)

    def section_index(self, name):
        elf = ELFFile(io.BytesIO(self.data))
        return next(i for i, s in enumerate(elf.iter_sections()) if s.name == name)

    def apply(self, mutations):
        """The seed's bytes with ``mutations`` applied in order."""
        data = bytearray(self.data)
        for mutation in mutations:
            kind = mutation[0]
            if kind == "truncate":
                del data[mutation[1]:]
            elif kind == "byte":
                _, offset, value = mutation
                if offset < len(data):
                    data[offset] = value
            else:
                _, record, field, value = mutation
                _set_field(data, *self.records[record], field, value)
        return bytes(data)


def _set_field(data, struct, offset, _fields, field, value):
    size = struct.sizeof()
    if offset + size > len(data):
        return
    try:
        entry = struct.parse(bytes(data[offset:offset + size]))
    except Exception:       # an earlier byte mutation made it unreadable
        return
    if field in ("bind", "type"):
        entry["st_info"][field] = (BINDS if field == "bind" else TYPES)[value % 5 % (
            3 if field == "bind" else 5)]
    elif field in ("r_info_sym", "r_info_type"):
        sym, rtype = entry["r_info"] >> 32, entry["r_info"] & 0xffffffff
        value &= 0xffffffff
        sym, rtype = (value, rtype) if field == "r_info_sym" else (sym, value)
        entry["r_info"] = sym << 32 | rtype
    elif field == "r_addend":
        value &= (1 << 64) - 1
        entry[field] = value - (1 << 64) if value >> 63 else value
    else:
        entry[field] = value & ((1 << WIDTH.get(field, 64)) - 1)
    try:
        data[offset:offset + size] = struct.build(entry)
    except Exception:       # a value the record's enums cannot spell
        return


def mutants(seed):
    """Lists of mutations of ``seed`` (see ``Seed.apply``)."""
    data = seed.data
    anywhere = st.integers(0, len(data) - 1)
    in_tables = st.sampled_from(seed.tables).flatmap(
        lambda t: st.integers(t[0], max(t[0], min(t[0] + t[1], len(data)) - 1)))
    positions = st.one_of(st.integers(0, 63), in_tables, anywhere)
    byte = st.tuples(st.just("byte"), positions, st.integers(0, 255))
    values = st.one_of(st.sampled_from(INTERESTING + (len(data), len(data) - 1,
                                                      len(data) + 1)),
                       st.integers(0, (1 << 64) - 1), st.integers(0, 0x100))
    field = st.integers(0, len(seed.records) - 1).flatmap(
        lambda r: st.tuples(st.just("field"), st.just(r),
                            st.sampled_from(seed.records[r][2]), values))
    truncate = st.tuples(st.just("truncate"), st.integers(0, len(data) - 1))
    return st.one_of(
        st.lists(field, min_size=1, max_size=3),
        st.lists(byte, min_size=1, max_size=6),
        st.lists(st.one_of(field, byte), min_size=2, max_size=4),
        truncate.map(lambda t: [t]))


# -- Running commands -------------------------------------------------------

def _status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _call(argv):
    """Run the command in this process: what it printed and returned."""
    from kexec_purgatory import cli
    out, err = io.StringIO(), io.StringIO()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")            # VmHWM := VmRSS
    before = _status_kib("VmRSS")
    status, escaped = None, None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as e:
            status = e.code
        except BaseException:
            escaped = traceback.format_exc()
    grew = (_status_kib("VmHWM") - before) * 1024
    if argv[0] in ("run", "test-run"):
        gc.collect()            # an emulator's CPU lives in reference cycles
    return {"status": status, "stdout": out.getvalue(), "stderr": err.getvalue(),
            "traceback": escaped, "grew": grew}


def _serve(connection):
    gc.freeze()         # what the fork inherited: never collected, cheaply
    limit = _status_kib("VmSize") * 1024 + ADDRESS_SPACE_MARGIN
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        request = connection.recv()
        if request is None:
            return
        function, args = request
        try:
            connection.send(function(*args))
        except BaseException:
            connection.send({"traceback": traceback.format_exc()})


def loads_at(elf, data, name, addresses):
    """For the consistency property: the loader's verdict at each address
    of ``data`` (parsed once, as ``elf``): None where it is placed, else
    the message of its refusal."""
    from kexec_purgatory.elf import loader
    from kexec_purgatory.errors import UserError
    verdicts = []
    for address in addresses:
        try:
            loader.load_parsed(elf, data, name, address)
            verdicts.append(None)
        except UserError as e:
            verdicts.append(str(e))
    return verdicts


class Worker:
    """A forked child running calls one at a time (``call``, ``apply``)."""

    def __init__(self):
        self._start()

    def _start(self):
        context = multiprocessing.get_context("fork")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def apply(self, function, *args, timeout=CALL_TIMEOUT):
        """``function(*args)`` in the child, or {"hang"/"died": ...}."""
        self.connection.send((function, args))
        started = time.monotonic()
        if not self.connection.poll(timeout):
            self.restart()
            return {"hang": f"no answer in {timeout} s"}
        try:
            answer = self.connection.recv()
        except EOFError:
            code = self.process.exitcode
            self.restart()
            return {"died": f"worker died (exit {code})"}
        if isinstance(answer, dict):
            answer["seconds"] = time.monotonic() - started
        return answer

    def call(self, argv, timeout=CALL_TIMEOUT):
        return self.apply(_call, list(map(str, argv)), timeout=timeout)

    def restart(self):
        self.process.kill()
        self.process.join()
        self._start()

    def close(self):
        with contextlib.suppress(OSError):
            self.connection.send(None)
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


# -- The contract -----------------------------------------------------------

def contract_violations(result, culprit, outputs=()):
    """What the call's ``result`` broke of the contract: exit 0, 1 or 2; on
    exit 2 exactly one line on stderr, naming ``culprit`` and saying
    something; never a traceback, a hang or a death; bounded memory; and no
    file of ``outputs`` left behind on failure (nor a temporary one)."""
    problems = []
    for key in ("hang", "died", "traceback"):
        if result.get(key):
            problems.append(f"{key}: {result[key]}")
    if problems:
        return problems
    status, err = result["status"], result["stderr"]
    if status not in (0, 1, 2):
        problems.append(f"exit status {status!r}")
    lines = err.splitlines()
    if status == 2:
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr: {err!r}")
        elif culprit not in lines[0]:
            problems.append(f"message does not name {culprit}: {lines[0]!r}")
        elif lines[0].rstrip().endswith(":") or "()" in lines[0]:
            problems.append(f"message says nothing: {lines[0]!r}")
    elif "Traceback" in err or len(lines) > 1:
        problems.append(f"stderr: {err!r}")
    if result["grew"] > MEMORY_GROWTH_LIMIT:
        problems.append(f"peak memory grew by {result['grew'] // MIB} MiB")
    if status != 0:
        for output in map(Path, outputs):
            if output.exists():
                problems.append(f"{output.name} left behind (exit {status})")
            stray = list(output.parent.glob(f".{output.name}.*"))
            if stray:
                problems.append(f"temporary files left: {stray}")
    return problems
