# SPDX-License-Identifier: GPL-2.0-only
"""Build, check, run and embed a kexec purgatory.

The logic of the SCons tool lives here, as plain Python that can be used and
tested without SCons; ``site_scons/site_tools/purgatory.py`` only wires it to
builders.
"""

__version__ = "0.1.0"
