# SPDX-License-Identifier: GPL-2.0-only
"""Emulation of a ppc64le purgatory: refused, because Unicorn cannot run it.

What a run would have to do (abi/ppc64le.py has the facts and their
kernel sources): enter at purgatory_start in real mode, 64-bit,
little-endian, with r3 = the boot CPU, r4 = the entry, r5 = 0
(arch/powerpc/kernel/misc_64.S, kexec_sequence()), and stop where
trampoline_64.S leaves for ``kernel`` (an rfid clearing MSR LE) with r3 =
dt_offset, r4 = kernel, r5 = 0, r8/r9 = opal_base/opal_entry. The digest
is not checked there, so a corrupted segment could only be reported as
"entered anyway, powerpc's purgatory checks no digest", never as refused.

Measured with the Unicorn this project uses (2.1.4): ``Uc(UC_ARCH_PPC,
UC_MODE_PPC64 | UC_MODE_LITTLE_ENDIAN)`` fails with UC_ERR_MODE; on the
POWER8/9/10 models writes to MSR are ignored (it stays 0: 32-bit,
big-endian) and 64-bit instructions (``ld``, ``rldicr``) raise an
unhandled exception even in big-endian code; the 970 model takes MSR LE
but drops SF and faults on the same instructions. So no ppc64le
purgatory, Linux's trampoline_64.S included, gets past its first
``ld``. ``run`` therefore refuses in one line instead of reporting an
outcome it did not observe.
"""

import unicorn

from ..errors import UserError

REASON = (f"Unicorn {unicorn.__version__} cannot run 64-bit little-endian "
          "PowerPC code (UC_MODE_LITTLE_ENDIAN is refused for UC_ARCH_PPC, "
          "MSR SF/LE cannot be set, 64-bit loads fault)")


def run(loaded, spec, corruption, max_instructions):
    """Refuse: see the module's documentation."""
    raise UserError(f"{loaded.name}: no emulation of ppc64le purgatories: "
                    f"{REASON}; check and load work")
