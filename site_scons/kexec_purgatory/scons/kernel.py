# SPDX-License-Identifier: GPL-2.0-only
"""Kernel mode's builders: a Linux tree's own purgatory, built with the
commands Kbuild gives (``kexec_purgatory.kernel``), then gated, checked,
embedded and recorded as this tree's purgatory is.

``env.KernelPurgatory(out, src, obj, variables)`` checks the tree, asks
Kbuild (or reuses the answer cached under ``out``), and adds one node per
Kbuild step, run in OBJ as Kbuild runs it, writing under ``out``.
"""

import os
import shlex
import subprocess
import sys

import SCons.Action
import SCons.Builder
import SCons.Errors
import SCons.Scanner
import SCons.Scanner.C

from ..build import record as buildinfo
from ..errors import UserError
from ..kernel import kbuild
from ..kernel import purgatory as kernel_steps
from ..kernel.tree import KernelTree

# Make variables a user may pass through to Kbuild.
PASSED_TO_KBUILD = ("ARCH", "CROSS_COMPILE", "CC", "LD", "KCFLAGS", "W")


def _run(target, source, env):
    """Run one Kbuild command with /bin/sh in OBJ, as make does."""
    command = env["KBUILD_COMMAND"]
    try:
        done = subprocess.run(command, shell=True, cwd=env["KBUILD_OBJ"],
                              env=env["ENV"])
    except OSError as e:
        sys.stderr.write(f"{target[0]}: cannot run: {e.strerror}\n")
        return 1
    return done.returncode


def _describe(target, source, env):
    from .tool import quiet_line
    if env["V"]:
        return f"(cd {shlex.quote(env['KBUILD_OBJ'])} && {env['KBUILD_COMMAND']})"
    return quiet_line(env["KBUILD_TAG"], str(target[0]))


def _scan(node, env, path):
    """Headers of a compiled source, found in the command's -I directories."""
    if node.get_suffix() not in (".c", ".S", ".h", ".s"):
        return []
    return _C_SCANNER(node, env, path)


_C_SCANNER = SCons.Scanner.C.CScanner()


def _add_builder(env):
    if "_KbuildStep" in env["BUILDERS"]:
        return
    env["BUILDERS"]["_KbuildStep"] = SCons.Builder.Builder(
        action=SCons.Action.Action(_run, strfunction=_describe,
                                   varlist=["KBUILD_SIGNATURE"]),
        source_scanner=SCons.Scanner.Scanner(
            function=_scan,
            path_function=SCons.Scanner.FindPathDirs("CPPPATH"),
            recursive=True))


def _signature(step, tree):
    """What a step's output depends on besides its inputs' contents: the
    command as Kbuild runs it, and where (OBJ: the compilation directory in
    debug information). Not OUT, which only the rewritten command names: so
    builds of one kernel tree into different OUT directories, from clones
    of this tool at different paths, share a CACHEDIR."""
    return f"cd {tree.obj} && {step.kbuild_command}".replace("$", "$$")


def _path_free(words, tree, out_dir):
    return buildinfo.path_free(words, str(tree.src), out_dir,
                               {str(tree.obj): "<KERNEL_O>"})


def kernel_purgatory(env, out, src, obj=None, variables=None, progress=print):
    """The nodes (as ``env.Purgatory`` returns them) of SRC's purgatory,
    configured in OBJ (default: SRC), built under the directory ``out``."""
    _add_builder(env)
    out = env.Dir(out)
    try:
        tree = KernelTree(src, obj)
        make_variables = tree.make_variables(variables or {})
        cc = make_variables.get("CC") or \
            make_variables.get("CROSS_COMPILE", "") + "gcc"
        make_variables.setdefault("CC", cc)
        os.makedirs(out.abspath, exist_ok=True)
        # Asking Kbuild takes seconds: said first, on stderr, as every
        # progress line (stdout keeps the steps).
        found, version_text = kbuild.commands(
            tree, make_variables, out.abspath, env["ENV"],
            lambda: tree.check_compiler(cc, env["ENV"]),
            lambda line: print(line, file=sys.stderr, flush=True))
        progress(f"  KERNEL  {tree.version} {tree.machine} {version_text}")
    except UserError as e:
        raise SCons.Errors.StopError(str(e)) from None
    steps = kernel_steps.steps(found, str(tree.obj), out.abspath)
    nodes, objects, sources, commands = {}, [], [], {}
    for step in steps:
        inputs = [nodes[t] for t in step.inputs if t in nodes]
        extra = [step.source, *step.forced] if step.source else []
        node = env._KbuildStep(
            out.File(step.target), [*extra, *inputs],
            KBUILD_COMMAND=step.command, KBUILD_OBJ=str(tree.obj),
            KBUILD_TAG=step.tag,
            KBUILD_SIGNATURE=_signature(step, tree),
            CPPPATH=list(step.include_dirs))[0]
        nodes[step.target] = node
        if step.tag in ("CC", "AS"):
            objects.append(node)
            sources.append(env.File(step.source))
        commands[step.target] = _path_free(
            shlex.split(step.kbuild_command), tree, out.abspath)
    ro = kernel_steps.find(steps, kernel_steps.RELOCATABLE)
    if ro is None:
        raise SCons.Errors.StopError(
            f"Kbuild has no purgatory.ro step for arch/{tree.srcarch}/"
            "purgatory/ in this tree")
    chk = kernel_steps.find(steps, kernel_steps.UNDEFINED_CHECK)
    # The tree's own toolchain assembles the .incbin check, links the gate
    # where Kbuild has none, and is the one the record names. The record
    # names sources relative to the kernel tree and its output directory
    # by a placeholder, and lists Kbuild's commands.
    ld = make_variables.get("LD") or make_variables.get("CROSS_COMPILE", "") + "ld"
    return env.PurgatoryOutputs(
        nodes[ro.target], CC=cc, LD=ld, objects=objects, inputs=sources,
        undefined_check=nodes[chk.target] if chk else None,
        PURGATORY_SOURCE_ROOT=env.Dir(str(tree.src)),
        PURGATORY_RECORD_PATHS={str(tree.obj): "<KERNEL_O>"},
        PURGATORY_RECORD_COMMANDS=commands)
