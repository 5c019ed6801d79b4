# SPDX-License-Identifier: GPL-2.0-only
"""A kernel-like tree that builds its own purgatory with the tool's builders.

Its layout is not this repository's: the sources sit in
arch/x86/purgatory/, the C headers in include/purgatory/, the assembly
headers in arch/x86/include/, a config header is forced in with -include,
and the tree defines its own macros and symbol names. One extra source,
tree-config.c, only compiles when all of that arrived on the command line.
"""

import shutil
from pathlib import Path

from conftest import IGNORED, REPO

SUBDIR = "arch/x86/purgatory"
ARRAY_SYMBOL = "tree_purgatory"
SIZE_SYMBOL = "tree_purgatory_size"
CONFIG_HEADER = "include/generated/autoconf.h"

# How the tree's SConstruct loads the tool: {name: Python that makes env}.
LOADERS = {
    "site_scons": 'env = Environment(tools=["purgatory"])',
    "toolpath": 'env = Environment(tools=["purgatory"], toolpath=[{tool_dir!r}])',
    "pip": ('import kexec_purgatory\n'
            'print("tool from", kexec_purgatory.tool_dir())\n'
            'env = Environment(tools=["purgatory"],\n'
            '                  toolpath=[kexec_purgatory.tool_dir()])'),
}

SCONSTRUCT = '''\
# SPDX-License-Identifier: GPL-2.0-only
# A kernel-like tree: the purgatory is one SConscript among others.
import os

{loader}

# The tree's own variable: where its outputs go.
variables = Variables(None, ARGUMENTS)
variables.Add("O", "output directory", "build")
variables.Update(env)
Help(variables.GenerateHelpText(env) + env["options"].GenerateHelpText(env))

out = Dir(env["O"])
env["PURGATORY_OUTPUT_DIR"] = out
os.makedirs(out.abspath, exist_ok=True)
SConsignFile(out.File(".sconsign").abspath)
nodes = SConscript("{subdir}/SConscript", variant_dir=out.Dir("{subdir}"),
                   duplicate=False, exports="env")
env.PurgatoryVerifyReproducible(nodes.buildinfo, out)
# Everything, and `scons -u` in a source directory builds its variant.
Default(".")
'''

SCONSCRIPT = '''\
# SPDX-License-Identifier: GPL-2.0-only
Import("env")

nodes = env.Purgatory(
    "purgatory.ro", {sources!r},
    linker_script="purgatory.lds",
    CPPPATH=["#include/purgatory", "#arch/x86/include"],
    CPPDEFINES=["TREE_BUILD", ("TREE_LEVEL", 2)],
    PURGATORY_FORCED_INCLUDES=["#{config}"],
    ARRAY_SYMBOL="{array}",
    SIZE_SYMBOL="{size}",
)
# `scons -U` in this directory builds these.
Default(nodes.outputs)
Return("nodes")
'''

TREE_CONFIG_C = '''\
/* SPDX-License-Identifier: GPL-2.0-only */
/* Compiles only when the tree's flags reached the compiler. */
#ifndef CONFIG_TREE_PURGATORY
#error "include/generated/autoconf.h was not forced in with -include"
#endif
#if !defined(TREE_BUILD) || TREE_LEVEL != 2
#error "the tree's CPPDEFINES did not arrive"
#endif
#include "sha256.h"	/* from the tree's include/purgatory/ */

int tree_config_level(void);

int tree_config_level(void)
{
	return CONFIG_TREE_PURGATORY;
}
'''


def make_kernel_tree(dest, loader="site_scons", tool_dir=None):
    """Write the kernel-like tree at ``dest``; returns its Path."""
    dest = Path(dest)
    sub = dest / SUBDIR
    sub.mkdir(parents=True)
    (dest / "include" / "purgatory").mkdir(parents=True)
    for header in sorted((REPO / "purgatory").glob("*.h")):
        shutil.copy(header, dest / "include" / "purgatory")
    shutil.copytree(REPO / "arch" / "x86" / "include",
                    dest / "arch" / "x86" / "include")
    # The SHA-NI path is this project's SHA256=auto option (its define, its
    # checker mode): the tree builds the general-register paths only.
    asm = sorted(p for p in (REPO / "arch" / "x86").glob("*.S")
                 if p.name != "sha256-ni.S")
    c = sorted((REPO / "purgatory").glob("*.c"))
    for source in [*asm, *c, REPO / "arch" / "x86" / "purgatory.lds"]:
        shutil.copy(source, sub)
    (sub / "tree-config.c").write_text(TREE_CONFIG_C)
    config = dest / CONFIG_HEADER
    config.parent.mkdir(parents=True)
    config.write_text("/* SPDX-License-Identifier: GPL-2.0-only */\n"
                      "#define CONFIG_TREE_PURGATORY 1\n")
    sources = [p.name for p in [*asm, *c]] + ["tree-config.c"]
    (sub / "SConscript").write_text(SCONSCRIPT.format(
        sources=sources, config=CONFIG_HEADER, array=ARRAY_SYMBOL,
        size=SIZE_SYMBOL))
    (dest / "SConstruct").write_text(SCONSTRUCT.format(
        loader=LOADERS[loader].format(tool_dir=str(tool_dir)), subdir=SUBDIR))
    if loader == "site_scons":
        shutil.copytree(REPO / "site_scons", dest / "site_scons",
                        ignore=IGNORED)
    return dest


def outputs_of(build_dir):
    """The tree's purgatory outputs under an output directory."""
    d = Path(build_dir) / SUBDIR
    return {name: d / name for name in
            ("purgatory.ro", "kexec-purgatory.c", "kexec-purgatory.S")}
