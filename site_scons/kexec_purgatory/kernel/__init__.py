# SPDX-License-Identifier: GPL-2.0-only
"""Kernel mode: a Linux tree's own purgatory, with the commands Kbuild runs.

Whatever the version and the architecture (x86, s390, powerpc, riscv),
Kbuild itself is asked for the purgatory's commands, so the result is what
Kbuild builds, byte for byte, for the configured, prepared output
directory OBJ (``make O=OBJ olddefconfig prepare``):

- ``kconfig``: reads ``OBJ/.config``;
- ``tree``: checks SRC and OBJ and says what to run when they are not ready;
- ``kbuild``: asks Kbuild for the commands and caches the answer;
- ``purgatory``: the commands as steps that write under OUT;
- ``tarball``: a source tarball extracted as far as those need (for
  ``verify-kernel``).

Apart from ``tarball``, which makes a SRC, it only reads SRC and OBJ;
nothing here writes into either.
"""
