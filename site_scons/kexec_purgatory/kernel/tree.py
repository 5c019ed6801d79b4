# SPDX-License-Identifier: GPL-2.0-only
"""A Linux source tree SRC and its configured, prepared output directory OBJ.

Everything wrong with them is found here, before any compiler runs, and
reported as one line that says what to run.  Kbuild's own spelling of the
source tree, as seen from OBJ, is computed here too: it ends up in command
lines, and ``-fmacro-prefix-map`` strips exactly that prefix from __FILE__.
"""

import os
import re
import subprocess
from pathlib import Path

from ..errors import UserError
from .kconfig import read_config

# A .config names its architecture through one of these options; the first
# that is set wins.  x86_64 is the one this package builds for.
_ARCH_OPTIONS = (
    ("X86_64", "x86_64"), ("X86_32", "i386"), ("ARM64", "arm64"),
    ("ARM", "arm"), ("RISCV", "riscv"), ("S390", "s390"), ("PPC64", "ppc64"),
    ("PPC", "powerpc"), ("MIPS", "mips"), ("LOONGARCH", "loongarch"),
    ("PARISC", "parisc"), ("SPARC", "sparc"), ("UML", "um"),
)

# Files `make prepare` generates in OBJ that the purgatory's headers need.
_PREPARED_FILES = (
    "include/config/auto.conf",
    "include/generated/autoconf.h",
    "include/generated/uapi/linux/version.h",
    "include/generated/bounds.h",
    "arch/x86/include/generated/asm/rwonce.h",
    "arch/x86/include/generated/uapi/asm/unistd_64.h",
)


def _prepare_command(src, obj):
    output = f" O={obj}" if obj != src else ""
    return f"make -C {src}{output} olddefconfig prepare"


def _kernel_version(src):
    """(VERSION, PATCHLEVEL, SUBLEVEL) from the top Makefile of SRC."""
    makefile = src / "Makefile"
    fields = {}
    with open(makefile, encoding="utf-8", errors="replace") as f:
        for line in f:
            match = re.match(r"(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d+)", line)
            if match:
                fields.setdefault(match[1], int(match[2]))
            if len(fields) == 3:
                break
    if len(fields) != 3:
        raise UserError(f"{makefile}: no VERSION/PATCHLEVEL/SUBLEVEL: "
                        "not a Linux source tree")
    return fields["VERSION"], fields["PATCHLEVEL"], fields["SUBLEVEL"]


def _architecture(config):
    for option, arch in _ARCH_OPTIONS:
        if config.enabled(option):
            return arch
    return "an unknown architecture"


class KernelTree:
    """A checked (SRC, OBJ) pair.

    ``srctree`` is the source tree as Kbuild spells it when it runs in OBJ:
    ``.`` in the tree itself, ``..`` when OBJ is a direct subdirectory of SRC,
    else SRC's absolute real path.
    """

    def __init__(self, src, obj=None):
        self.src = Path(os.path.realpath(src))
        self.obj = Path(os.path.realpath(obj if obj else src))
        if not (self.src / "Makefile").is_file() or \
                not (self.src / "arch/x86/purgatory").is_dir():
            raise UserError(f"KERNEL={src}: not a Linux source tree "
                            "(no Makefile and arch/x86/purgatory/ there)")
        self.version = _kernel_version(self.src)
        dot_config = self.obj / ".config"
        if not dot_config.is_file():
            raise UserError(f"KERNEL_O={self.obj}: no .config: put a "
                            "configuration there and run "
                            f"'{_prepare_command(self.src, self.obj)}'")
        self.config = read_config(dot_config)
        arch = _architecture(self.config)
        if arch != "x86_64":
            raise UserError(f"{dot_config}: a configuration for {arch}, not "
                            "x86_64: copy an x86_64 configuration there and "
                            f"run '{_prepare_command(self.src, self.obj)}'")
        for name in _PREPARED_FILES:
            if not (self.obj / name).is_file():
                raise UserError(f"KERNEL_O={self.obj}: not prepared (no {name})"
                                f": run '{_prepare_command(self.src, self.obj)}'")
        auto_conf = self.obj / "include/config/auto.conf"
        if dot_config.stat().st_mtime > auto_conf.stat().st_mtime:
            raise UserError(f"{dot_config} changed after the last prepare: "
                            f"run '{_prepare_command(self.src, self.obj)}'")

    @property
    def building_out_of_srctree(self):
        return self.src != self.obj

    @property
    def srctree(self):
        if not self.building_out_of_srctree:
            return "."
        if self.obj.parent == self.src:
            return ".."
        return str(self.src)

    @property
    def version_text(self):
        return ".".join(map(str, self.version))

    def check_compiler(self, cc_argv):
        """Kbuild re-runs syncconfig when ``$(CC) --version`` no longer matches
        CONFIG_CC_VERSION_TEXT; flags probed for another compiler would be
        wrong, so refuse the mismatch the same way."""
        if not self.config.enabled("CC_IS_GCC"):
            raise UserError(f"{self.obj}/.config: kernel mode supports "
                            "configurations built with gcc (CONFIG_CC_IS_GCC)")
        try:
            out = subprocess.run(list(cc_argv) + ["--version"], check=True,
                                 capture_output=True, text=True,
                                 env=dict(os.environ, LC_ALL="C")).stdout
        except (OSError, subprocess.CalledProcessError):
            raise UserError(f"CC={' '.join(cc_argv)}: cannot run the compiler"
                            ) from None
        first = out.splitlines()[0].replace("#", "") if out else ""
        wanted = self.config["CC_VERSION_TEXT"]
        if first != wanted:
            raise UserError(f"{self.obj}/.config was made for '{wanted}', "
                            f"CC={' '.join(cc_argv)} is '{first}': run "
                            f"'{_prepare_command(self.src, self.obj)}' with "
                            "this CC, or pass the CC of the configuration")
