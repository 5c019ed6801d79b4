# SPDX-License-Identifier: GPL-2.0-only
"""Kbuild-style probes: does the compiler (or linker) accept these flags?

Kbuild keeps a flag written as ``$(call cc-option,FLAG)`` only when
``$(CC) -Werror <flags so far> FLAG -c -x c /dev/null`` succeeds, and
``$(call ld-option,FLAG)`` only when ``$(LD) <flags so far> FLAG -v`` does.
The answers depend on the compiler, so they are asked, not assumed.  Results
are cached for the life of the process.
"""

import functools
import os
import subprocess
import tempfile


def _succeeds(argv):
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


@functools.lru_cache(maxsize=None)
def cc_accepts(cc_argv, context, flags):
    """True when CC compiles an empty C file with ``context`` + ``flags``
    (all three tuples of words)."""
    with tempfile.TemporaryDirectory(prefix="kexec-purgatory-probe-") as tmp:
        return _succeeds([*cc_argv, "-Werror", *context, *flags, "-c",
                          "-x", "c", "/dev/null", "-o",
                          os.path.join(tmp, "probe.o")])


@functools.lru_cache(maxsize=None)
def ld_accepts(ld_argv, context, flags):
    """True when LD accepts ``context`` + ``flags`` (``-v`` links nothing)."""
    return _succeeds([*ld_argv, *context, *flags, "-v"])
