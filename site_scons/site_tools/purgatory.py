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


def _tool():
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (os.path.dirname(here), os.path.dirname(os.path.dirname(here))):
        if os.path.isfile(os.path.join(root, "kexec_purgatory", "__init__.py")):
            if root not in sys.path:
                sys.path.insert(0, root)
            break
    try:
        from kexec_purgatory.scons import tool
    except ImportError as e:
        raise SCons.Errors.StopError(
            f"purgatory: Python package 'kexec_purgatory' is neither beside "
            f"the tool ({os.path.dirname(here)}) nor installed, or it cannot "
            f"be imported ({e}): copy all of site_scons/, or pip install "
            "this project") from None
    return tool


_TOOL = _tool()
generate, exists, options = _TOOL.generate, _TOOL.exists, _TOOL.options
