# SPDX-License-Identifier: GPL-2.0-only
"""SCons tool 'purgatory': builders for a kexec purgatory.

This module only wires builders to the ``kexec_purgatory`` package, which
holds the logic and works without SCons.

Builders (each takes the usual per-call overrides such as ``CPPPATH=``,
``CPPDEFINES=``, ``PURGATORY_CFLAGS=``):

  env.PurgatoryObject(source)                 .c/.S -> .o, purgatory flags
  env.PurgatoryRelocatable(target, objects)   ld -r -> purgatory.ro
  env.PurgatoryUndefinedCheck(target, ro)     full link gate -> purgatory.chk
  env.PurgatoryCheck(target, ro)              checker gate -> purgatory.check
  env.PurgatoryCArray(target, ro)             ro -> kexec-purgatory.c
  env.Purgatory(sources, linker_script=...)   all of them, in order, gated
  env.PurgatoryTestRun(target, ro)            emulated runs -> JSON report

The command-line variables (``scons -h``) come from
``kexec_purgatory.variables``; ``generate(env, **defaults)`` lets a tree
change their defaults.
"""

import collections
import importlib.util
import os
import shlex
import sys

import SCons.Action
import SCons.Builder
import SCons.Errors
import SCons.Scanner.C
import SCons.Script
from SCons.Variables import BoolVariable, EnumVariable, Variables


def _import_package():
    """Import kexec_purgatory, from site_scons/ beside this tool if needed."""
    try:
        import kexec_purgatory  # noqa: F401  (installed, or site_scons/)
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path.insert(0, os.path.dirname(here))
    # Third-party modules the build steps need, with the package to install.
    # Found, not imported: importing capstone costs every run, even one with
    # nothing to do, ~20 ms; the steps import what they use when they run.
    for module, package in (("elftools", "pyelftools"), ("capstone", "capstone")):
        if importlib.util.find_spec(module) is None:
            raise SCons.Errors.StopError(
                f"purgatory: Python package '{package}' is missing "
                f"(pip install {package}, or pip install this project)") from None


_import_package()

from kexec_purgatory import embed, flags, linkcheck, toolenv  # noqa: E402
from kexec_purgatory.variables import NAMES, VARIABLES  # noqa: E402
from kexec_purgatory.errors import UserError  # noqa: E402
from kexec_purgatory.files import read_bytes, remove_stale, write_atomically  # noqa: E402

PurgatoryNodes = collections.namedtuple(
    "PurgatoryNodes", "objects relocatable undefined_check check outputs")

_help_given = False


def _scons_variables(defaults):
    """SCons Variables from the plain table, defaults overridable per tree."""
    variables = Variables(None, SCons.Script.ARGUMENTS)
    for var in VARIABLES:
        default = defaults.get(var.name, var.default)
        if var.kind == "bool":
            variables.Add(BoolVariable(var.name, var.help, default))
        elif var.kind == "enum":
            variables.Add(EnumVariable(var.name, var.help, default,
                                       allowed_values=var.allowed))
        else:
            variables.Add(var.name, var.help, default)
    return variables


def _user_step(step):
    """Run a step of the package (returning its status, None for 0); print
    its UserError as one line."""
    try:
        return step() or 0
    except UserError as e:
        sys.stderr.write(f"{e}\n")
        return 1


def _gate(env, status):
    """A failed gate removes the outputs it guards: none is left stale."""
    if status:
        remove_stale(str(p) for p in env.get("PURGATORY_GATED", []))
    return status


def _undefined_check(target, source, env):
    command = linkcheck.link_command(env.subst("$LD"), source[0].path,
                                     target[0].path,
                                     env.subst("$PURGATORY_ENTRY"))
    return _gate(env, _user_step(lambda: linkcheck.check_link(
        command, source[0].path, env["ENV"])))


def _purgatory_check(target, source, env):
    """The checker's rules on purgatory.ro: findings printed as the
    ``kexec-purgatory check`` command prints them, errors fail the build,
    and the target records the (warning) findings of a passing object."""
    from kexec_purgatory import check  # capstone: only when the step runs

    def step():
        findings = check.check_file(source[0].path, env.subst("$PURGATORY_ABI"))
        report = "".join(f"{f.text()}\n" for f in findings)
        sys.stderr.write(report)
        if check.exit_status(findings):
            return 1
        write_atomically(target[0].path, report.encode())
        return 0
    return _gate(env, _user_step(step))


def _c_array(target, source, env):
    def step():
        data = read_bytes(source[0].path)
        text = embed.c_array(data, source[0].name,
                             env.subst("$ARRAY_SYMBOL"),
                             env.subst("$SIZE_SYMBOL"))
        write_atomically(target[0].path, text)
    return _user_step(step)


# What V=1 prints for the steps that run in Python: an equivalent command.
_VERBOSE_PYTHON_STEPS = {
    "PURGATORY_CHKCOMSTR": " ".join(linkcheck.link_command(
        "$LD", "$SOURCE", "$TARGET", "$PURGATORY_ENTRY")),
    "PURGATORY_CHECKCOMSTR": "kexec-purgatory check --abi $PURGATORY_ABI $SOURCE",
    "PURGATORY_BIN2CCOMSTR": ("kexec-purgatory embed --format c "
                              "--array-symbol $ARRAY_SYMBOL "
                              "--size-symbol $SIZE_SYMBOL -o $TARGET $SOURCE"),
}

_QUIET_TAGS = {
    "PURGATORY_CCCOMSTR": "CC",
    "PURGATORY_ASCOMSTR": "AS",
    "PURGATORY_LDCOMSTR": "LD",
    "PURGATORY_CHKCOMSTR": "CHK",
    "PURGATORY_CHECKCOMSTR": "CHECK",
    "PURGATORY_BIN2CCOMSTR": "BIN2C",
}
# A check names the file it reads, not the report it writes.
_QUIET_NODES = {"PURGATORY_CHECKCOMSTR": "$SOURCE"}


def _set_output_style(env):
    """Kbuild style: one line a step, or full commands with V=1."""
    for var, tag in _QUIET_TAGS.items():
        if env["V"]:
            env[var] = _VERBOSE_PYTHON_STEPS.get(var, "")
        else:
            env[var] = toolenv.quiet_line(tag, _QUIET_NODES.get(var, "$TARGET"))


def _set_flags(env):
    """Purgatory flags from CODE_MODEL and the user's filtered flags."""
    try:
        cflags = flags.split_flags(env["CFLAGS"], "CFLAGS")
        cppflags = flags.split_flags(env["CPPFLAGS"], "CPPFLAGS")
        kept_c, dropped_c = flags.filter_user_flags(cflags)
        kept_cpp, dropped_cpp = flags.filter_user_flags(cppflags)
        env["PURGATORY_CFLAGS"] = flags.purgatory_cflags(
            env["CODE_MODEL"], kept_c, kept_cpp)
        env["PURGATORY_ASFLAGS"] = flags.purgatory_asflags(
            env["CODE_MODEL"], kept_cpp)
        embed.validate_symbol(env.subst("$ARRAY_SYMBOL"), "ARRAY_SYMBOL")
        embed.validate_symbol(env.subst("$SIZE_SYMBOL"), "SIZE_SYMBOL")
    except UserError as e:
        raise SCons.Errors.StopError(str(e)) from None
    message = flags.dropped_message({"CFLAGS": dropped_c,
                                     "CPPFLAGS": dropped_cpp})
    if message and not SCons.Script.GetOption("help"):
        print(message)


def _require_tools(env):
    """One clear line when the compiler or linker is not there."""
    if SCons.Script.GetOption("help") or SCons.Script.GetOption("clean"):
        return
    for var, what in (("CC", "C compiler"), ("LD", "linker")):
        words = shlex.split(env.subst(f"${var}"))
        if not words or not env.WhereIs(words[0]):
            name = words[0] if words else ""
            raise SCons.Errors.StopError(
                f"purgatory: {what} '{name}' ({var}) not found in PATH: "
                f"install it, or set {var}= or CROSS_COMPILE=")


def _dependency_on(env, nodes, command_var):
    """Make nodes depend on the tool binary, so a new compiler rebuilds."""
    words = shlex.split(env.subst(f"${command_var}"))
    path = env.WhereIs(words[0]) if words else None
    if path:
        env.Depends(nodes, env.File(os.path.realpath(path)))


# The package modules a test-run's result depends on.
_EMULATOR_MODULES = ("loader.py", "emulator.py", "machine.py", "segments.py",
                     "address_space.py", "testrun.py", "elffile.py")


def _test_run(target, source, env):
    def step():
        # Imported here: unicorn and capstone are needed by test-run only.
        try:
            from kexec_purgatory import testrun
        except ImportError as e:
            raise UserError(f"test-run needs the Python package '{e.name}' "
                            "(pip install this project)") from None
        report = testrun.run_all(read_bytes(source[0].path), source[0].path,
                                 verbose=env["V"])
        write_atomically(target[0].path, report.encode())
    return _user_step(step)


def _emulator_test_run(env, target, relocatable):
    """Run purgatory.ro in the emulator (kexec_purgatory.testrun); the
    target is the JSON report, rewritten when the purgatory or the emulator
    changes."""
    nodes = env._PurgatoryTestRun(target, relocatable)
    package = os.path.dirname(os.path.abspath(embed.__file__))
    env.Depends(nodes, [env.File(os.path.join(package, m)) for m in _EMULATOR_MODULES])
    return nodes


def _relocatable(env, target, objects, linker_script=None, **overrides):
    """ld -r of the objects, in the order given."""
    if linker_script is not None:
        script = env.File(linker_script)
        overrides["PURGATORY_LDSCRIPT_FLAGS"] = ["-T", script]
    nodes = env._PurgatoryRelocatable(target, objects, **overrides)
    if linker_script is not None:
        env.Depends(nodes, script)
    _dependency_on(env, nodes, "LD")
    return nodes


def _object(env, source, target=None, **overrides):
    nodes = env._PurgatoryObject(target, source, **overrides)
    _dependency_on(env, nodes, "CC")
    return nodes


def _purgatory(env, sources, linker_script=None, relocatable="purgatory.ro",
               undefined_check="purgatory.chk", check="purgatory.check",
               c_array="kexec-purgatory.c", **overrides):
    """The whole pipeline; embedded outputs wait for every gate to pass.

    Gates run in order LD, CHK, CHECK: an undefined symbol is reported by
    the link, everything else the kernel's loader would refuse by the
    checker."""
    objects = [env.PurgatoryObject(source=s, **overrides)[0] for s in sources]
    ro = env.PurgatoryRelocatable(relocatable, objects,
                                  linker_script=linker_script, **overrides)
    outputs = env.PurgatoryCArray(c_array, ro)
    chk = env.PurgatoryUndefinedCheck(
        undefined_check, ro, PURGATORY_GATED=outputs)
    checked = env.PurgatoryCheck(check, ro, PURGATORY_GATED=outputs)
    env.Depends(checked, chk)
    env.Depends(outputs, [chk, checked])
    return PurgatoryNodes(objects, ro[0], chk[0], checked[0], list(outputs))


def _add_help(variables, env):
    global _help_given
    if not _help_given:
        _help_given = True
        # env.Help, not the global Help(): the global one creates SCons'
        # default environment, which probes for every known tool (gcc -v
        # included) and costs about a third of a null build. "$$": Help
        # substitutes, and the defaults should read as written.
        env.Help(variables.GenerateHelpText(env).replace("$", "$$"),
                 append=True)


def generate(env, **defaults):
    variables = _scons_variables(defaults)
    variables.Update(env)
    _add_help(variables, env)
    env["PURGATORY_VARIABLE_NAMES"] = sorted(NAMES)
    env["ENV"] = toolenv.command_environment(os.environ)
    _set_flags(env)
    _require_tools(env)
    _set_output_style(env)

    env.SetDefault(
        INCPREFIX="-I", INCSUFFIX="", CPPDEFPREFIX="-D", CPPDEFSUFFIX="",
        CPPPATH=[], CPPDEFINES=[],
        PURGATORY_ENTRY="purgatory_start",
        PURGATORY_ABI="kernel",
        PURGATORY_LDSCRIPT_FLAGS=[],
        PURGATORY_LDFLAGS=["-r", "-e", "$PURGATORY_ENTRY", "-z", "nodefaultlib"],
    )
    # Unlike SCons' own _CPPINCFLAGS, the include path is part of the
    # command's signature: changing it rebuilds.
    env["_PURGATORY_INCFLAGS"] = ("${_concat(INCPREFIX, CPPPATH, INCSUFFIX, "
                                  "__env__, RDirs, TARGET, SOURCE)}")
    env["PURGATORY_CCCOM"] = ("$CC -o $TARGET -c $PURGATORY_CFLAGS "
                              "$_CPPDEFFLAGS $_PURGATORY_INCFLAGS $SOURCE")
    env["PURGATORY_ASCOM"] = ("$CC -o $TARGET -c $PURGATORY_ASFLAGS "
                              "$_CPPDEFFLAGS $_PURGATORY_INCFLAGS $SOURCE")
    env["PURGATORY_LDCOM"] = ("$LD $PURGATORY_LDFLAGS $PURGATORY_LDSCRIPT_FLAGS "
                              "-o $TARGET $SOURCES")

    env["BUILDERS"]["_PurgatoryObject"] = SCons.Builder.Builder(
        action={
            ".c": SCons.Action.Action("$PURGATORY_CCCOM", "$PURGATORY_CCCOMSTR"),
            ".S": SCons.Action.Action("$PURGATORY_ASCOM", "$PURGATORY_ASCOMSTR"),
        },
        suffix=".o", src_suffix=[".c", ".S"],
        source_scanner=SCons.Scanner.C.CScanner(),
        # _dependency_on() tracks the real compiler binary already; SCons'
        # own lookup would search PATH again for every target at every run
        # and hash the same binary once more through its symlink.
        IMPLICIT_COMMAND_DEPENDENCIES=0)
    env["BUILDERS"]["_PurgatoryRelocatable"] = SCons.Builder.Builder(
        action=SCons.Action.Action("$PURGATORY_LDCOM", "$PURGATORY_LDCOMSTR"),
        suffix=".ro", src_suffix=".o", IMPLICIT_COMMAND_DEPENDENCIES=0)
    env["BUILDERS"]["PurgatoryUndefinedCheck"] = SCons.Builder.Builder(
        action=SCons.Action.Action(_undefined_check, "$PURGATORY_CHKCOMSTR",
                                   varlist=["LD", "PURGATORY_ENTRY"]),
        suffix=".chk", src_suffix=".ro")
    env["BUILDERS"]["PurgatoryCheck"] = SCons.Builder.Builder(
        action=SCons.Action.Action(_purgatory_check, "$PURGATORY_CHECKCOMSTR",
                                   varlist=["PURGATORY_ABI"]),
        suffix=".check", src_suffix=".ro")
    env["BUILDERS"]["PurgatoryCArray"] = SCons.Builder.Builder(
        action=SCons.Action.Action(_c_array, "$PURGATORY_BIN2CCOMSTR",
                                   varlist=["ARRAY_SYMBOL", "SIZE_SYMBOL"]),
        suffix=".c", src_suffix=".ro")
    env["BUILDERS"]["_PurgatoryTestRun"] = SCons.Builder.Builder(
        action=SCons.Action.Action(_test_run, None), suffix=".json", src_suffix=".ro")
    env.AddMethod(_emulator_test_run, "PurgatoryTestRun")
    env.AddMethod(_object, "PurgatoryObject")
    env.AddMethod(_relocatable, "PurgatoryRelocatable")
    env.AddMethod(_purgatory, "Purgatory")


def exists(env):
    return bool(env.WhereIs(env.subst("${CROSS_COMPILE}gcc")))
