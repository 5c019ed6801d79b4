# SPDX-License-Identifier: GPL-2.0-only
"""What a kernel image says about its own configuration, before booting it.

A kernel built with CONFIG_IKCONFIG carries its .config gzip-compressed
between the markers "IKCFG_ST" and "IKCFG_ED" (kernel/configs.c,
kernel_config_data); in a bzImage it sits in the compressed payload.
Without it, a ``config-VERSION`` file beside ``vmlinuz-VERSION`` (Debian's
/boot layout) is read instead.  Neither found: the test goes on and says
what was tried; the kernel itself then answers (ENOSYS without KEXEC_FILE).
"""

import os
import zlib
from dataclasses import dataclass

from ..errors import UserError
from ..files import read_bytes
from ..formats import kernel_image
from ..kernel.kconfig import parse_config

START, END = b"IKCFG_ST", b"IKCFG_ED"
# What a boot test needs of each kernel, per path: the first loads through
# kexec_file; the second of a crash path is a crash kernel with /proc/vmcore.
NEEDED = {
    "first": {"normal": ("KEXEC_FILE",), "crash": ("KEXEC_FILE",)},
    "second": {"normal": (), "crash": ("CRASH_DUMP", "PROC_VMCORE")},
}


@dataclass(frozen=True)
class ProbedConfig:
    config: object | None     # kernel/kconfig.KernelConfig, None: not found
    source: str               # where it came from, or what was tried


def ikconfig(vmlinux):
    """The .config text embedded in ``vmlinux`` bytes, or None."""
    start = vmlinux.find(START)
    if start < 0:
        return None
    end = vmlinux.find(END, start)
    packed = vmlinux[start + len(START):end if end > 0 else None]
    try:
        return zlib.decompressobj(wbits=31).decompress(packed, 1 << 22) \
            .decode("utf-8", "replace")
    except zlib.error:
        return None


def probe(path, data):
    """The ProbedConfig of the bzImage ``data`` read from ``path``."""
    text = ikconfig(kernel_image.bzimage_vmlinux(path, data))
    if text is not None:
        source = f"{path}'s IKCONFIG"
        return ProbedConfig(parse_config(text, source), source)
    directory, base = os.path.split(path)
    tried = [f"no IKCONFIG in {path}"]
    if base.startswith("vmlinuz-"):
        beside = os.path.join(directory, "config-" + base[len("vmlinuz-"):])
        if os.path.exists(beside):
            text = read_bytes(beside).decode("utf-8", "replace")
            return ProbedConfig(parse_config(text, beside), beside)
        tried.append(f"no {beside}")
    return ProbedConfig(None, ", ".join(tried))


def check(config, modes, role):
    """UserError (exit 2) naming the option when the config says the
    ``role`` ("first" or "second") kernel cannot play its part in a path
    of ``modes``."""
    if config.config is None:
        return
    for mode in modes:
        for option in NEEDED[role][mode]:
            if config.config[option] != "y":
                raise UserError(f"the {role} kernel cannot serve the {mode} "
                                f"path: CONFIG_{option} is not set "
                                f"({config.source})")
