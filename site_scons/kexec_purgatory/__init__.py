# SPDX-License-Identifier: GPL-2.0-only
"""Build, check, run and embed a kexec purgatory.

The logic of the SCons tool lives here, as plain Python that can be used and
tested without SCons; ``site_scons/site_tools/purgatory.py`` only wires it to
builders.
"""

import os

__version__ = "0.1.0"


def kernel_sconscript():
    """The path of kernel mode's SConscript (``kernel.SConscript``): this
    tree's SConstruct reads it for KERNEL=SRC, and a copy of it dropped into
    a kernel tree as arch/ARCH/purgatory/SConscript builds that tree's
    purgatory (``scons -f``)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "scons",
                        "kernel.SConscript")


def tool_dir():
    """The directory holding the SCons tool ``purgatory.py``.

    For ``env.Tool("purgatory", toolpath=[kexec_purgatory.tool_dir()])`` in a
    tree that has no copy of ``site_scons/``. A wheel carries the tool in
    ``kexec_purgatory/site_tools/``; a checkout (or an editable install) has
    it in ``site_scons/site_tools/``, beside this package.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "site_tools"),
                      os.path.join(os.path.dirname(here), "site_tools")):
        if os.path.isfile(os.path.join(candidate, "purgatory.py")):
            return candidate
    raise FileNotFoundError(f"the SCons tool purgatory.py is neither in "
                            f"{here}/site_tools nor beside {here}")
