# SPDX-License-Identifier: GPL-2.0-only
"""What the SCons tool imports on a run with nothing to do.

Every `scons` pays for the modules the tool imports when it loads, null
builds included (see BENCHMARKS.md): pyelftools, capstone, unicorn and
intelhex cost tens of milliseconds each and belong to the steps that use
them, which import them when they run.
"""

import subprocess
import sys

from conftest import run_scons

HEAVY = ("elftools", "capstone", "unicorn", "intelhex")


def test_null_build_imports_none_of_the_heavy_third_party_modules(tree):
    run_scons(tree)
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "SCons",
                             "-Q"], cwd=tree, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    imported = {line.rpartition("|")[2].strip()
                for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "kexec_purgatory" in imported      # the tool was loaded
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY) == []
