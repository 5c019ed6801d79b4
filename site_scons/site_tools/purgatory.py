# SPDX-License-Identifier: GPL-2.0-only
"""SCons tool 'purgatory': finds the ``kexec_purgatory`` package and hands
SCons its tool (``kexec_purgatory.scons.tool``: generate, exists, options).

The package this shim ships with comes first: it lives beside it in a
checkout or a copied ``site_scons/`` (``site_scons/kexec_purgatory``), or
around it in a wheel (``kexec_purgatory/site_tools/``); another version
installed elsewhere must not shadow it.
"""

import os
import sys

import SCons.Errors


def _bytecode_cache():
    """Where the package's bytecode is kept between runs.

    SCons writes no bytecode, so every run would compile the modules the
    tool loads afresh: about 11 ms of a 115 ms null build, which takes it
    past its target (1.3 x bare SCons, bench/run.py). They are cached in
    the user's cache directory, not beside the sources, so a source tree
    (read-only, or a packaging chroot's) is never written to; where the
    directory cannot be written Python just compiles.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kexec-purgatory", "bytecode")


def _tool():
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (os.path.dirname(here), os.path.dirname(os.path.dirname(here))):
        if os.path.isfile(os.path.join(root, "kexec_purgatory", "__init__.py")):
            if root not in sys.path:
                sys.path.insert(0, root)
            break
    # Only for this import: with a prefix set, Python looks for no bytecode
    # beside installed modules either and would compile them all again.
    saved = sys.pycache_prefix, sys.dont_write_bytecode
    if sys.pycache_prefix is None:
        sys.pycache_prefix = _bytecode_cache()
    sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)
    try:
        from kexec_purgatory.scons import tool
    except ImportError as e:
        raise SCons.Errors.StopError(
            f"purgatory: Python package 'kexec_purgatory' is neither beside "
            f"the tool ({os.path.dirname(here)}) nor installed, or it cannot "
            f"be imported ({e}): copy all of site_scons/, or pip install "
            "this project") from None
    finally:
        sys.pycache_prefix, sys.dont_write_bytecode = saved
    return tool


_TOOL = _tool()
generate, exists, options = _TOOL.generate, _TOOL.exists, _TOOL.options
