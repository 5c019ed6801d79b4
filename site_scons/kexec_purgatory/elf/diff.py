# SPDX-License-Identifier: GPL-2.0-only
"""What differs between two purgatories, in the purgatory's own terms.

A hexdump says "byte 0x2a1c differs"; a reviewer needs "section .rodata,
offset 0x44", "symbol sha256_k changed size", "relocation at .text+0x15
is R_X86_64_64 instead of R_X86_64_PC32", "first different instruction".
``compare`` returns that as plain data (JSON-ready); ``format_report``
writes it for people.
"""


from elftools.elf.constants import SH_FLAGS
from elftools.elf.descriptions import describe_reloc_type
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from .. import abi
from ..digests import sha256_hex
from .reader import damaged_elf_is_user_error, parse_elf
from .structure import require_sound

CONTEXT_BYTES = 16           # hex context shown around a first difference
INSTRUCTIONS_SHOWN = 3       # instructions shown from the first different one
ITEMS_SHOWN = 8              # relocations/symbols listed before "and N more"

HEADER_FIELDS = ("e_type", "e_machine", "e_entry", "e_flags", "e_shnum",
                 "e_shstrndx")


def describe(data):
    return {"size": len(data), "sha256": sha256_hex(data)}


def first_difference(a, b):
    """Offset of the first differing byte (or of the end of the shorter)."""
    if a == b:
        return None
    n = min(len(a), len(b))
    low, high = 0, n              # a[:low] == b[:low] always holds
    while high - low > 64:
        mid = (low + high) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid
    return next((i for i in range(low, high) if a[i] != b[i]), n)


def hex_context(data, offset):
    """The bytes around ``offset``, from its 16-byte-aligned row."""
    start = offset - offset % CONTEXT_BYTES
    row = data[start:start + CONTEXT_BYTES]
    return {"offset": start, "hex": row.hex(" ")}


# capstone's decoder for machines without a purgatory ABI here (arm64's
# kexec_file loads no purgatory, but its objects can still be compared).
_OTHER_DECODERS = {
    "EM_AARCH64": (("CS_ARCH_ARM64", "CS_ARCH_AARCH64"), ("CS_MODE_ARM",)),
    "EM_386": (("CS_ARCH_X86",), ("CS_MODE_32",)),
}


def decoder(elf):
    """capstone's (arch, mode) for an object's machine, each architecture
    decoded as itself; None when capstone has no decoder for it."""
    import capstone           # only needed for executable sections
    machine = elf.header["e_machine"]
    module = abi.ARCHITECTURES.get(machine)
    if module is not None:
        arch_names, mode_names = (module.CAPSTONE[0],), module.CAPSTONE[1:]
    elif machine in _OTHER_DECODERS:
        arch_names, mode_names = _OTHER_DECODERS[machine]
    else:
        return None
    arch = next((getattr(capstone, n) for n in arch_names
                 if hasattr(capstone, n)), None)
    if arch is None or not all(hasattr(capstone, m) for m in mode_names):
        return None
    mode = 0
    for name in mode_names:
        mode |= getattr(capstone, name)
    return arch, mode


def _disassemble(code, decoded_as):
    import capstone
    md = capstone.Cs(*decoded_as)
    md.skipdata = True
    return [(insn.address, bytes(insn.bytes), f"{insn.mnemonic} {insn.op_str}".strip())
            for insn in md.disasm(code, 0)]


def first_different_instructions(a, b, decoded_as=None):
    """From the first instruction whose address or bytes differ, a few
    instructions of each side (decoded from the start of the section, as
    ``decoded_as``, capstone's (arch, mode); default x86_64)."""
    if decoded_as is None:
        import capstone
        decoded_as = (capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    ia, ib = _disassemble(a, decoded_as), _disassemble(b, decoded_as)
    i = next((k for k, (x, y) in enumerate(zip(ia, ib)) if x[:2] != y[:2]),
             min(len(ia), len(ib)))

    def shown(insns):
        return [{"address": addr, "bytes": raw.hex(" "), "text": text}
                for addr, raw, text in insns[i:i + INSTRUCTIONS_SHOWN]]
    return {"a": shown(ia), "b": shown(ib)}


def _sections(elf):
    """{key: section}; keys are names, repeated names get '#2', '#3'..."""
    result = {}
    for section in elf.iter_sections():
        if section["sh_type"] == "SHT_NULL":
            continue
        key, n = section.name, 1
        while key in result:
            n += 1
            key = f"{section.name}#{n}"
        result[key] = section
    return result


def _section_difference(name, sa, sb, decoded_as=None):
    entry = {"name": name}
    for side, s in (("a", sa), ("b", sb)):
        entry[side] = None if s is None else {
            "type": s["sh_type"], "size": s["sh_size"],
            "flags": s["sh_flags"], "align": s["sh_addralign"]}
    if sa is None or sb is None:
        entry["status"] = "only in " + ("B" if sa is None else "A")
        return entry
    data_a = b"" if sa["sh_type"] == "SHT_NOBITS" else sa.data()
    data_b = b"" if sb["sh_type"] == "SHT_NOBITS" else sb.data()
    if entry["a"] == entry["b"] and data_a == data_b:
        return None
    entry["status"] = "differs"
    offset = first_difference(data_a, data_b)
    if offset is not None:
        entry["first_difference"] = offset
        entry["context"] = {"a": hex_context(data_a, offset),
                            "b": hex_context(data_b, offset)}
        if sa["sh_flags"] & SH_FLAGS.SHF_EXECINSTR and decoded_as is not None:
            entry["instructions"] = first_different_instructions(
                data_a, data_b, decoded_as)
    return entry


def _symbol_section(elf, symbol):
    index = symbol["st_shndx"]
    if isinstance(index, int):
        return elf.get_section(index).name
    return index                  # SHN_UNDEF, SHN_ABS, SHN_COMMON


def _symbols(elf):
    """{(name, section): symbol facts} of the named symbols."""
    result = {}
    for table in elf.iter_sections():
        if not isinstance(table, SymbolTableSection):
            continue
        for symbol in table.iter_symbols():
            if not symbol.name or symbol["st_info"]["type"] == "STT_SECTION":
                continue
            key = f"{symbol.name}"
            if key in result:
                key = f"{symbol.name}@{_symbol_section(elf, symbol)}"
            result[key] = {
                "value": symbol["st_value"], "size": symbol["st_size"],
                "bind": symbol["st_info"]["bind"],
                "type": symbol["st_info"]["type"],
                "section": _symbol_section(elf, symbol)}
    return result


def _relocation_target_name(elf, symtab, index):
    """The name a relocation's symbol goes by; a relocation section the
    kernel skips (its target not loaded) is not checked by
    ``structure``, so its symbol index may lie past its table."""
    if index >= symtab.num_symbols():
        return f"<symbol {index}, past the end of {symtab.name}>"
    symbol = symtab.get_symbol(index)
    if symbol["st_info"]["type"] == "STT_SECTION":
        return _symbol_section(elf, symbol)
    return symbol.name


def _relocation_type_name(elf, number):
    """The ABI's name of a relocation type (it knows types newer than
    pyelftools' table, R_X86_64_GOTPCRELX among them)."""
    module = abi.ARCHITECTURES.get(elf.header["e_machine"])
    if module is not None:
        return module.relocation_name(number)
    return describe_reloc_type(number, elf)


def _relocations(elf):
    """{relocation section name: [entry text, ...]} in file order."""
    result = {}
    for section in elf.iter_sections():
        if not isinstance(section, RelocationSection):
            continue
        symtab = elf.get_section(section["sh_link"])
        entries = []
        for rel in section.iter_relocations():
            name = _relocation_target_name(elf, symtab, rel["r_info_sym"])
            text = (f"0x{rel['r_offset']:x} "
                    f"{_relocation_type_name(elf, rel['r_info_type'])} {name}")
            if rel.is_RELA():
                addend = rel["r_addend"]
                text += f"{'+' if addend >= 0 else '-'}0x{abs(addend):x}"
            entries.append(text)
        result[section.name] = entries
    return result


def _multiset_minus(left, right):
    remaining = {}
    for item in right:
        remaining[item] = remaining.get(item, 0) + 1
    out = []
    for item in left:
        if remaining.get(item):
            remaining[item] -= 1
        else:
            out.append(item)
    return out


def _contents(elf, data, name):
    """Sections (their data read once, to find damage), symbols and
    relocations of one side: a damaged file is named alone."""
    with damaged_elf_is_user_error(name):
        require_sound(elf, data, name)
        sections = _sections(elf)
        for section in sections.values():
            if section["sh_type"] != "SHT_NOBITS":
                section.data()
        return sections, _symbols(elf), _relocations(elf)


def compare_elf(data_a, data_b, name_a="A", name_b="B"):
    """The differences between two ELF objects, as a dict (see module doc)."""
    report = {"a": {"name": name_a, **describe(data_a)},
              "b": {"name": name_b, **describe(data_b)},
              "identical": data_a == data_b,
              "header": [], "sections": [], "symbols": [], "relocations": []}
    if report["identical"]:
        return report
    elf_a, elf_b = parse_elf(data_a, name_a), parse_elf(data_b, name_b)
    secs_a, syms_a, rels_a = _contents(elf_a, data_a, name_a)
    secs_b, syms_b, rels_b = _contents(elf_b, data_b, name_b)
    with damaged_elf_is_user_error(f"{name_a} or {name_b}"):
        for field in HEADER_FIELDS:
            if elf_a.header[field] != elf_b.header[field]:
                report["header"].append({"field": field, "a": elf_a.header[field],
                                         "b": elf_b.header[field]})
        decoded_as = decoder(elf_a) if elf_a.header["e_machine"] == \
            elf_b.header["e_machine"] else None
        for name in [*secs_a, *(k for k in secs_b if k not in secs_a)]:
            entry = _section_difference(name, secs_a.get(name), secs_b.get(name),
                                        decoded_as)
            if entry:
                report["sections"].append(entry)
        for name in [*syms_a, *(k for k in syms_b if k not in syms_a)]:
            a, b = syms_a.get(name), syms_b.get(name)
            if a != b:
                report["symbols"].append({"name": name, "a": a, "b": b})
        # (a relocation section on one side only is reported as a section)
        for name in (k for k in rels_a if k in rels_b):
            a, b = rels_a[name], rels_b[name]
            if a != b:
                report["relocations"].append({
                    "section": name, "count": {"a": len(a), "b": len(b)},
                    "only_in_a": _multiset_minus(a, b),
                    "only_in_b": _multiset_minus(b, a)})
    if not (report["header"] or report["sections"]):
        report["file_offset"] = first_difference(data_a, data_b)
    return report


def compare_images(image_a, base_a, image_b, base_b, name_a="A", name_b="B",
                   sections=()):
    """Two relocated images: base, size, first offset; ``sections``
    ([(name, offset, size)], from an object's layout) name where it is."""
    report = {"a": {"name": name_a, "base": base_a, **describe(image_a)},
              "b": {"name": name_b, "base": base_b, **describe(image_b)},
              "identical": image_a == image_b and base_a == base_b,
              "header": [], "sections": [], "symbols": [], "relocations": []}
    offset = first_difference(image_a, image_b)
    if offset is not None:
        report["image"] = {"first_difference": offset,
                           "context": {"a": hex_context(image_a, offset),
                                       "b": hex_context(image_b, offset)}}
        for name, start, size in sections:
            if start <= offset < start + size:
                report["image"]["section"] = name
                report["image"]["section_offset"] = offset - start
    return report


def differing_sections(report):
    """Names of the sections that differ (for one-line summaries)."""
    return [entry["name"] for entry in report["sections"]]


def _side_lines(items, label):
    lines = [f"      {label} {item}" for item in items[:ITEMS_SHOWN]]
    if len(items) > ITEMS_SHOWN:
        lines.append(f"      {label} ... and {len(items) - ITEMS_SHOWN} more")
    return lines


def _section_lines(entry):
    a, b = entry["a"], entry["b"]
    if entry["status"] != "differs":
        present = a or b
        return [f"  section {entry['name']}: {entry['status']} "
                f"({present['type']}, {present['size']} bytes)"]
    head = f"  section {entry['name']}: {a['size']} vs {b['size']} bytes"
    for field in ("type", "flags", "align"):
        if a[field] != b[field]:
            head += f", {field} {a[field]} vs {b[field]}"
    lines = [head]
    if "first_difference" in entry:
        lines[0] += f", first difference at offset 0x{entry['first_difference']:x}"
        for side in ("a", "b"):
            ctx = entry["context"][side]
            lines.append(f"      {side.upper()} 0x{ctx['offset']:04x}: {ctx['hex']}")
    for side in ("a", "b") if "instructions" in entry else ():
        for insn in entry["instructions"][side]:
            lines.append(f"      {side.upper()} 0x{insn['address']:04x}: "
                         f"{insn['text']:<36} ({insn['bytes']})")
    return lines


def _symbol_line(entry):
    a, b = entry["a"], entry["b"]
    if a is None or b is None:
        present = a or b
        return (f"  symbol {entry['name']}: only in {'B' if a is None else 'A'} "
                f"({present['section']}, value 0x{present['value']:x}, "
                f"size {present['size']})")
    changes = [f"{field} {a[field]:#x} -> {b[field]:#x}" if field == "value"
               else f"{field} {a[field]} -> {b[field]}"
               for field in ("value", "size", "bind", "type", "section")
               if a[field] != b[field]]
    return f"  symbol {entry['name']}: " + ", ".join(changes)


def format_report(report):
    """The report as lines of text."""
    lines = [f"{side.upper()}: {report[side]['name']} ({report[side]['size']} bytes"
             + (f" loaded at 0x{report[side]['base']:x}" if "base" in report[side] else "")
             + f", sha256 {report[side]['sha256']})" for side in ("a", "b")]
    if report["identical"]:
        lines.append(f"identical: sha256 {report['a']['sha256']}")
        return lines
    lines.append("different:")
    for entry in report["header"]:
        lines.append(f"  ELF header {entry['field']}: {entry['a']} vs {entry['b']}")
    for entry in report["sections"]:
        lines += _section_lines(entry)
    lines += [_symbol_line(entry) for entry in report["symbols"]]
    for entry in report["relocations"]:
        lines.append(f"  relocations {entry['section']}: "
                     f"{entry['count']['a']} vs {entry['count']['b']} entries, "
                     f"{len(entry['only_in_a'])} only in A, "
                     f"{len(entry['only_in_b'])} only in B")
        lines += _side_lines(entry["only_in_a"], "A")
        lines += _side_lines(entry["only_in_b"], "B")
    if report["a"].get("base") != report["b"].get("base"):
        lines.append(f"  load address 0x{report['a']['base']:x} vs "
                     f"0x{report['b']['base']:x}")
    if "image" in report:
        image = report["image"]
        where = (f" (section {image['section']} + 0x{image['section_offset']:x})"
                 if "section" in image else "")
        lines.append(f"  image: {report['a']['size']} vs {report['b']['size']} "
                     f"bytes, first difference at offset "
                     f"0x{image['first_difference']:x}{where}")
        for side in ("a", "b"):
            ctx = image["context"][side]
            lines.append(f"      {side.upper()} 0x{ctx['offset']:04x}: {ctx['hex']}")
    elif report.get("file_offset") is not None:
        lines.append(f"  bytes outside every section differ, first at file "
                     f"offset 0x{report['file_offset']:x}")
    return lines
