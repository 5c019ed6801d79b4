# SPDX-License-Identifier: GPL-2.0-only
"""ELF objects: reading (``reader``), the kernel's layout of a purgatory
(``layout``), loading and relocating it as kexec_file does (``loader``)
and comparing two objects (``diff``). All parsing is pyelftools'; this
package module itself imports nothing, so the magic test stays cheap."""

# The first bytes of every ELF file: enough to refuse an obvious mistake
# (a text file, the wrong build output) without importing pyelftools.
ELF_MAGIC = b"\x7fELF"
