# SPDX-License-Identifier: GPL-2.0-only
"""A Linux source tree SRC and its configured, prepared output directory OBJ.

Everything wrong with them is found here, before make or a compiler runs,
and reported as one line that says what to run: no configuration, not
prepared, a configuration for an architecture without a purgatory, the
option the architecture builds its purgatory with turned off, a compiler
other than the configuration's.

``include/config/auto.conf.cmd`` records the make variables the tree was
configured with (ARCH, CC, LD, RUSTC...): asked with other values, Kbuild
would configure the tree again, so they are passed back as recorded.
"""

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from ..errors import UserError
from .kconfig import read_config

# Kbuild's SRCARCH, from the option a .config names its architecture by:
# (option, SRCARCH, the machine's name for messages).
_ARCHES = (
    ("X86_64", "x86", "x86_64"), ("X86_32", "x86", "i386"),
    ("S390", "s390", "s390x"), ("PPC64", "powerpc", "ppc64"),
    ("PPC", "powerpc", "powerpc"), ("RISCV", "riscv", "riscv64"),
    ("ARM64", "arm64", "arm64"), ("ARM", "arm", "arm"),
    ("LOONGARCH", "loongarch", "loongarch64"), ("PARISC", "parisc", "parisc"),
    ("MIPS", "mips", "mips"), ("SPARC", "sparc", "sparc"), ("UML", "um", "um"),
)
# kexec_file without a purgatory: arm64 and parisc hand over in the kernel,
# LoongArch's kexec_file (2025) loads none.
_NO_PURGATORY = ("arm64", "parisc", "loongarch")

# What `make prepare` leaves in OBJ, whatever the architecture.
_PREPARED_FILES = (
    "include/config/auto.conf",
    "include/config/auto.conf.cmd",
    "include/generated/autoconf.h",
)

# `ifneq "$(NAME)" "value"` in auto.conf.cmd: a variable syncconfig saw.
_RECORDED = re.compile(r'^ifneq "\$\((\w+)\)" "(.*)"$', re.MULTILINE)
# Recorded, but derived by Kbuild itself: never passed back.
_DERIVED = {"KERNELVERSION", "srctree", "CC_VERSION_TEXT", "SRCARCH",
            "LD_VERSION_TEXT"}

# The line of arch/ARCH/Kbuild (or Makefile) that builds the purgatory.
_PURGATORY_LINE = re.compile(r"^obj-\$\(CONFIG_(\w+)\)\s*\+=\s*purgatory/",
                             re.MULTILINE)


def _prepare_command(src, obj, variables=""):
    output = f" O={obj}" if obj != src else ""
    extra = f" {variables}" if variables else ""
    return f"make -C {src}{output}{extra} olddefconfig prepare"


def debian_package(program):
    """The Debian package that installs ``program`` (a toolchain command)."""
    match = re.fullmatch(r"(.+-linux-gnu[^-]*)-(gcc|ld|ld\.bfd)(?:-(\d+))?", program)
    if match:
        triplet, tool, version = match.groups()
        if tool == "gcc":
            return f"gcc-{version}-{triplet}" if version else f"gcc-{triplet}"
        return f"binutils-{triplet}"
    if re.fullmatch(r"gcc(-\d+)?", program):
        return program
    if program.startswith("ld"):
        return "binutils"
    return program


class KernelTree:
    """A checked (SRC, OBJ) pair: its version, architecture, configuration
    and the make variables it was configured with."""

    def __init__(self, src, obj=None):
        try:
            self._check(src, obj)
        except PermissionError as e:
            raise UserError(f"{e.filename}: cannot read: {e.strerror} (the "
                            "kernel tree must be readable by the build)") from None

    def _check(self, src, obj):
        self.src = Path(os.path.realpath(src))
        self.obj = Path(os.path.realpath(obj if obj else src))
        if not (self.src / "Makefile").is_file() or \
                not (self.src / "arch").is_dir():
            raise UserError(f"KERNEL={src}: not a Linux source tree "
                            "(no Makefile and arch/ there)")
        dot_config = self.obj / ".config"
        if not dot_config.is_file():
            raise UserError(f"KERNEL_O={self.obj}: no .config: put a "
                            "configuration there and run "
                            f"'{_prepare_command(self.src, self.obj)}'")
        self.config = read_config(dot_config)
        self.recorded = {}
        self.srcarch, self.machine = self._architecture()
        for name in _PREPARED_FILES:
            if not (self.obj / name).is_file():
                raise UserError(f"KERNEL_O={self.obj}: not prepared (no {name})"
                                f": run '{self.prepare_command()}'")
        self.recorded = self._recorded_variables()
        auto_conf = self.obj / "include/config/auto.conf"
        if dot_config.stat().st_mtime > auto_conf.stat().st_mtime:
            raise UserError(f"{dot_config} changed after the last prepare: "
                            f"run '{self.prepare_command()}'")
        self._check_purgatory_option()

    def _architecture(self):
        dot_config = self.obj / ".config"
        for option, srcarch, machine in _ARCHES:
            if self.config.enabled(option):
                break
        else:
            raise UserError(f"{dot_config}: names no architecture this tool "
                            "knows")
        if srcarch in _NO_PURGATORY:
            raise UserError(f"{dot_config}: a configuration for {machine}: "
                            f"kexec_file on {machine} loads no purgatory")
        if not (self.src / "arch" / srcarch / "purgatory").is_dir():
            raise UserError(f"{dot_config}: a configuration for {machine}, "
                            f"whose Linux {self.version} has no purgatory "
                            f"(no arch/{srcarch}/purgatory/)")
        if srcarch == "powerpc" and self.config.enabled("CPU_LITTLE_ENDIAN"):
            machine = "ppc64le"
        return srcarch, machine

    def _recorded_variables(self):
        path = self.obj / "include/config/auto.conf.cmd"
        try:
            text = path.read_text(errors="replace")
        except OSError as e:
            raise UserError(f"{path}: cannot read: {e.strerror}") from None
        return dict(_RECORDED.findall(text))

    def _check_purgatory_option(self):
        """The option arch/ARCH/Kbuild builds purgatory/ with must be set."""
        for name in ("Kbuild", "Makefile"):
            path = self.src / "arch" / self.srcarch / name
            if not path.is_file():
                continue
            match = _PURGATORY_LINE.search(path.read_text(errors="replace"))
            if match:
                option = match[1]
                if not self.config.enabled(option):
                    raise UserError(
                        f"{self.obj}/.config: CONFIG_{option} is off, and "
                        f"{self.machine}'s purgatory is built only with it "
                        f"(arch/{self.srcarch}/{name}): turn it on "
                        f"(scripts/config --enable {option}) and run "
                        f"'{self.prepare_command()}'")
                return option
        return None

    @property
    def version(self):
        recorded = self.recorded.get("KERNELVERSION")
        return recorded or self._makefile_version()

    def _makefile_version(self):
        fields = {}
        with open(self.src / "Makefile", encoding="utf-8", errors="replace") as f:
            for line in f:
                match = re.match(r"(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d+)", line)
                if match:
                    fields.setdefault(match[1], match[2])
                if len(fields) == 3:
                    break
        return ".".join(fields.get(k, "?") for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL"))

    def make_variables(self, overrides=()):
        """The variables every make call on this tree passes: as recorded,
        then the caller's (CC=, LD=, CROSS_COMPILE=, KCFLAGS=, W=...)."""
        variables = {k: v for k, v in self.recorded.items() if k not in _DERIVED}
        variables.update(overrides)
        return variables

    def prepare_command(self, overrides=()):
        recorded = " ".join(f"{k}={shlex.quote(v)}" for k, v in
                            self.make_variables(overrides).items()
                            if k in ("ARCH", "CROSS_COMPILE", "CC", "LD"))
        return _prepare_command(self.src, self.obj, recorded)

    def check_compiler(self, cc, env=None):
        """The compiler (a string of words) must be the configuration's:
        Kbuild would configure the tree again for another one, so flags
        would differ from what OBJ was prepared for. One line naming both,
        and the Debian package when it is missing."""
        words = shlex.split(cc)
        program = words[0] if words else ""
        path = os.environ.get("PATH") if env is None else env.get("PATH")
        if not program or not shutil.which(program, path=path):
            raise UserError(f"CC={cc}: compiler not found (Debian package "
                            f"{debian_package(program)}; or set CC= or "
                            "CROSS_COMPILE=)")
        try:
            out = subprocess.run([*words, "--version"], capture_output=True,
                                 text=True, env=env).stdout
        except OSError as e:
            raise UserError(f"CC={cc}: cannot run the compiler: "
                            f"{e.strerror}") from None
        first = out.splitlines()[0].replace("#", "") if out else ""
        wanted = self.config["CC_VERSION_TEXT"]
        if wanted and first != wanted:
            raise UserError(f"{self.obj}/.config was made for '{wanted}', "
                            f"CC={cc} is '{first}': prepare it with this CC "
                            f"('{self.prepare_command({'CC': cc})}'), or "
                            "pass the configuration's CC")
        return first
