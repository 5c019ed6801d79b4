# SPDX-License-Identifier: GPL-2.0-only
"""Kernel mode: build a Linux tree's own arch/x86/purgatory as Kbuild would.

Kbuild's purgatory step is deterministic, so the same compiler flags give the
same ``purgatory.ro`` byte for byte.  This sub-package derives those flags from
a configured, prepared output directory (``make O=OBJ olddefconfig prepare``):

- ``kconfig``: reads ``OBJ/.config``;
- ``tree``: checks SRC and OBJ and says what to run when they are not ready;
- ``probe``: Kbuild's ``cc-option`` style compiler and linker probes;
- ``flags``: the table of flags, each with the config option that gates it;
- ``purgatory``: the six objects, their per-object flags and the link.

It only reads SRC and OBJ; nothing here writes into either.
"""
