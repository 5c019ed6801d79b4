# SPDX-License-Identifier: GPL-2.0-only
"""The kernel's own purgatory: its six objects and the commands Kbuild runs.

From the evaluated flag table (``flags``) this assembles, per object, the
same argument words Kbuild's ``c_flags``/``a_flags`` give the compiler, in the
same order, and the ``ld`` arguments of ``purgatory.ro`` and ``purgatory.chk``.
Only the dependency-file option (``-Wp,-MMD,...``) is left out: it does not
change the object.
"""

import re
from dataclasses import dataclass

from . import flags as flag_table

# $(obj): where the purgatory's Makefile lives; it names the module file.
DIRECTORY = "arch/x86/purgatory"

# purgatory-y, in link order, with the source each one is built from.
OBJECTS = (
    ("purgatory.o", "arch/x86/purgatory/purgatory.c"),
    ("stack.o", "arch/x86/purgatory/stack.S"),
    ("setup-x86_64.o", "arch/x86/purgatory/setup-x86_64.S"),
    ("sha256.o", "lib/crypto/sha256.c"),
    ("entry64.o", "arch/x86/purgatory/entry64.S"),
    ("string.o", "arch/x86/boot/compressed/string.c"),
)


@dataclass
class KernelObject:
    name: str          # e.g. "sha256.o"
    source: str        # as the command line spells it
    language: str      # "c" or "asm"
    flags: list        # everything between $(CC) and "-c -o OUT SOURCE"

    def command(self, cc, output):
        return [*cc, *self.flags, "-c", "-o", output, self.source]


def split_include_options(words):
    """(other words, -I directories, -include files), each in order.

    Builders take include directories and forced includes apart (SCons
    scans the one and depends on the other).  Only their order among
    themselves matters to the preprocessor: it searches -I directories in
    the order given and reads -include files after every -D and -U."""
    rest, dirs, forced = [], [], []
    words = iter(words)
    for word in words:
        if word == "-I":
            dirs.append(next(words))
        elif word.startswith("-I"):
            dirs.append(word[2:])
        elif word == "-include":
            forced.append(next(words))
        else:
            rest.append(word)
    return rest, dirs, forced


def filter_out(patterns, words):
    """GNU make's $(filter-out): drop every word matching a pattern, where a
    pattern's first ``%`` matches any run of characters."""
    regexes = [re.compile(re.escape(p).replace("%", ".*", 1) + r"\Z")
               for p in patterns]
    return [w for w in words if not any(r.match(w) for r in regexes)]


def _spelled_source(source, srctree):
    """The source as Kbuild's command names it: $(srctree)/SOURCE, which
    make shortens to SOURCE in the tree itself (it drops a leading ./)."""
    return source if srctree == "." else f"{srctree}/{source}"


def _name_fix(name):
    return name.replace("-", "_").replace(",", "_")


def _linuxinclude(srctree, objtree, out_of_tree):
    arch = "arch/x86"
    includes = [f"-I{srctree}/{arch}/include",
                f"-I{objtree}/{arch}/include/generated"]
    if out_of_tree:
        includes.append(f"-I{srctree}/include")
    includes += [f"-I{objtree}/include",
                 f"-I{srctree}/{arch}/include/uapi",
                 f"-I{objtree}/{arch}/include/generated/uapi",
                 f"-I{srctree}/include/uapi",
                 f"-I{objtree}/include/generated/uapi",
                 "-include", f"{srctree}/include/linux/compiler-version.h",
                 "-include", f"{srctree}/include/linux/kconfig.h"]
    return includes


class KernelPurgatory:
    """What Kbuild would run to build ``tree``'s purgatory.

    ``srctree``/``objtree`` are the spellings used in command lines: Kbuild's
    own (``tree.srctree`` and ``.``, run from OBJ) by default, absolute paths
    when the commands run from elsewhere.  Neither enters the objects: there
    is no debug info, __FILE__ loses the ``srctree`` prefix and STT_FILE
    symbols hold base names.
    """

    def __init__(self, tree, cc=("gcc",), ld=("ld",), srctree=None,
                 objtree="."):
        self.tree = tree
        self.cc, self.ld = tuple(cc), tuple(ld)
        self.srctree = tree.srctree if srctree is None else srctree
        self.objtree = objtree
        self.table = flag_table.derive(tree, self.srctree, cc=self.cc,
                                       ld=self.ld)
        out_of_tree = tree.building_out_of_srctree
        self._common = ["-nostdinc", *_linuxinclude(self.srctree, objtree,
                                                    out_of_tree)]
        # $(srctree)/$(src) and $(objtree)/$(obj), out of tree only.
        self._local = (["-I", f"{self.srctree}/{DIRECTORY}",
                        "-I", f"{objtree}/{DIRECTORY}"] if out_of_tree else [])
        self.objects = [
            (self._c_object if source.endswith(".c") else self._asm_object)(
                name, _spelled_source(source, self.srctree))
            for name, source in OBJECTS]

    def _c_object(self, name, source):
        """Kbuild's c_flags: its flags less CFLAGS_REMOVE_x.o, plus
        CFLAGS_x.o, then the module-name defines."""
        table, stem = self.table, name[:-len(".o")]
        kbuild_cflags = filter_out(table["PURGATORY_FILTER_OUT"],
                                   table["CFLAGS"])
        own = filter_out(table["PURGATORY_CFLAGS_REMOVE"],
                         table["CPPFLAGS"] + kbuild_cflags)
        own += table[f"CFLAGS_{name}"] + table["PURGATORY_CFLAGS"]
        own += table["NOSANITIZE_CFLAGS"]
        defines = [f'-DKBUILD_MODFILE="{DIRECTORY}/{stem}"',
                   f'-DKBUILD_BASENAME="{_name_fix(stem)}"',
                   f'-DKBUILD_MODNAME="{_name_fix(stem)}"',
                   f"-D__KBUILD_MODNAME=kmod_{_name_fix(stem)}"]
        words = [*self._common, "-include",
                 f"{self.srctree}/include/linux/compiler_types.h", *own,
                 *self._local, *table["CFLAGS_KERNEL"], *defines]
        return KernelObject(name, source, "c", words)

    def _asm_object(self, name, source):
        """Kbuild's a_flags: its preprocessor and assembler flags less
        the purgatory's removals."""
        own = filter_out(self.table["ASFLAGS_REMOVE"],
                         self.table["CPPFLAGS"] + self.table["AFLAGS"])
        return KernelObject(name, source, "asm",
                            [*self._common, *own, *self._local])

    def link_flags(self, target):
        """``ld`` arguments before the inputs, for ``purgatory.ro`` or
        ``purgatory.chk``."""
        return self.table["LDFLAGS"] + self.table[f"LDFLAGS_{target}"]

    def link_command(self, target, inputs, output):
        return [*self.ld, *self.link_flags(target), *inputs, "-o", output]
