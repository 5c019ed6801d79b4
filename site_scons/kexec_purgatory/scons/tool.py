# SPDX-License-Identifier: GPL-2.0-only
"""SCons tool 'purgatory': builders for a kexec purgatory.

Wires builders to the plain package (``kexec_purgatory.build``,
``.formats``, ``.check``...), which holds the logic and works without
SCons. ``site_scons/site_tools/purgatory.py`` is a shim that finds the
package and hands SCons this module's ``generate``, ``exists`` and
``options``.

    nodes = env.Purgatory("purgatory.ro", ["entry64.S", "purgatory.c"],
                          linker_script="purgatory.lds", CPPPATH=[...])

compiles the sources, links ``purgatory.ro``, gates it (full link, then
the checker) and writes the embedded forms of ``$FORMATS`` and the build
record beside it. The other builders are the steps it is made of:
``PurgatoryObject``, ``PurgatoryRelocatable``, and one per ``STEPS``
entry; ``PurgatoryInstall`` installs with SCons' ``Install``;
``PurgatoryVerifyReproducible`` is the ``verify-reproducible`` alias,
``PurgatoryBootTest`` the ``boot-test`` one.
Nothing here knows the layout of the tree that uses it.
"""

import dataclasses
import hashlib
import os
import re
import shlex
import subprocess
import sys
from typing import Callable, Optional

import SCons.Action
import SCons.Builder
import SCons.Errors
import SCons.Node
import SCons.Scanner.C
import SCons.Script
from SCons.Variables import Variables

from .. import formats
from ..build import environment, flags, install, linkcheck
from ..build.variables import BUILD_VARIABLES, TOOL_VARIABLES
from ..errors import UserError
from ..files import read_bytes, remove_stale, write_atomically
from ..sizes import parse_size
from ..formats import c_array, ihex, incbin
from ..formats.embedding import validate_symbols
from . import record

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _stop(error):
    """A UserError as SCons' one-line stop (no traceback, no source line)."""
    return SCons.Errors.StopError(str(error))


# --- Variables ------------------------------------------------------------

def _scons_variable(var, default=None):
    """(key, help, default, validator, converter) for SCons' Variables.

    Bad values stop the build with one line naming the variable; SCons'
    own EnumVariable and BoolVariable would add a line of this file's
    source to their message."""
    default = var.default if default is None else default
    if var.kind == "bool":
        def convert(value):
            text = str(value).lower()
            if text in ("1", "y", "yes", "true", "on"):
                return True
            if text in ("0", "n", "no", "false", "off", ""):
                return False
            raise SCons.Errors.StopError(
                f"'{var.name}': {value!r} is not a yes/no value (1 or 0)")
        return (var.name, f"{var.help} (yes|no)", default, None, convert)
    if var.kind == "enum":
        def validate(key, value, env):
            if value not in var.allowed:
                raise SCons.Errors.StopError(
                    f"'{key}': {value!r} is not one of "
                    f"{', '.join(var.allowed)}")
        return (var.name, f"{var.help} ({'|'.join(var.allowed)})", default,
                validate, None)
    return (var.name, var.help, default, None, None)


def options(opts):
    """The tool's own variables (SCons calls this before ``generate``)."""
    for var in TOOL_VARIABLES:
        opts.Add(*_scons_variable(var))


def add_variables(opts, *names, **defaults):
    """Add a tree's chosen build variables (CC, CFLAGS, O, PREFIX, ...;
    ``kexec_purgatory.build.variables.BUILD_VARIABLES``) to ``opts``,
    with defaults the tree may change."""
    for name in names:
        opts.Add(*_scons_variable(BUILD_VARIABLES[name], defaults.get(name)))
    return opts


def tree_variables(*names, **defaults):
    """A Variables object of the command line with ``names`` in it."""
    return add_variables(Variables(None, SCons.Script.ARGUMENTS), *names,
                         **defaults)


# --- Steps run in Python --------------------------------------------------

def _user_step(step):
    """Run a step of the package; print its UserError as one line."""
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
    def step():
        try:    # capstone: imported only when the step runs
            from .. import check
        except ImportError as e:
            raise UserError(f"the checker needs the Python package '{e.name}' "
                            "(pip install this project)") from None
        findings = check.check_file(source[0].path, env.subst("$PURGATORY_ABI"),
                                    env.subst("$PURGATORY_SIMD"))
        report = "".join(f"{f.text()}\n" for f in findings)
        sys.stderr.write(report)
        if check.exit_status(findings):
            return 1
        write_atomically(target[0].path, report.encode())
        # The RUN gate's report of an earlier build, when it is off now:
        # it would say this purgatory.ro was run.
        remove_stale(str(p) for p in env.get("PURGATORY_NOT_RUN", []))
        return 0
    return _gate(env, _user_step(step))


def _c_array(target, source, env):
    return _user_step(lambda: c_array.write_c_array(
        target[0].path, source[0].path, env.subst("$ARRAY_SYMBOL"),
        env.subst("$SIZE_SYMBOL")))


def _incbin(target, source, env):
    return _user_step(lambda: incbin.write_incbin(
        target[0].path, source[0].path, shlex.split(env.subst("$CC")),
        env.subst("$ARRAY_SYMBOL"), env.subst("$SIZE_SYMBOL"),
        env.subst("$PURGATORY_INCBIN_PATH") or None, env["ENV"]))


def _ihex(target, source, env):
    return _user_step(lambda: ihex.write_relocated_ihex(
        target[0].path, source[0].path, env.subst("$LOAD_ADDR")))


def _emulated(runs):
    """A step running ``runs(testrun, data, path)`` -> the JSON report,
    written to the target; it prints a line a run (with V=1 the step's
    ``kexec-purgatory test-run`` command comes first)."""
    def action(target, source, env):
        def step():
            try:    # unicorn and capstone: imported when a run is due
                from ..emulate import testrun
            except ImportError as e:
                raise UserError(f"running in emulation needs the Python "
                                f"package '{e.name}' (pip install this "
                                "project)") from None
            report = runs(testrun, read_bytes(source[0].path), source[0].path)
            write_atomically(target[0].path, report.encode())
        return _gate(env, _user_step(step))
    return action


# scons test-run: the three test addresses, the default segments.
_test_run = _emulated(lambda testrun, data, path: testrun.run_all(data, path))
# The RUN gate of every build (TEST_RUN=yes): two addresses, small segments.
_run_gate = _emulated(lambda testrun, data, path: testrun.gate(data, path))


def _test_run_command(gate):
    from ..cli import test_run as cli
    return cli.command("$SOURCE", "$TARGET", gate=gate)


def _check_command():
    from ..cli import check as cli
    return cli.command("$SOURCE", abi="$PURGATORY_ABI", simd="$PURGATORY_SIMD")


def _embed_command(form):
    def command():
        from ..cli import embed as cli
        return cli.command(form, "$SOURCE", "$TARGET", abi="$PURGATORY_ABI", **{
            "c": dict(array_symbol="$ARRAY_SYMBOL", size_symbol="$SIZE_SYMBOL"),
            "S": dict(cc="$CC", array_symbol="$ARRAY_SYMBOL",
                      size_symbol="$SIZE_SYMBOL",
                      incbin_path="${PURGATORY_INCBIN_PATH or SOURCE.file}"),
            "ihex": dict(load_addr="$LOAD_ADDR"),
        }[form])
    return command


@dataclasses.dataclass(frozen=True)
class Step:
    """A step from purgatory.ro that runs in Python.

    ``command`` gives, as words with SCons variables, the command line
    that does the same outside SCons: what ``V=1`` prints (None: the step
    prints its own lines). The output is rebuilt when ``varlist`` changes,
    when a module of this package changes, and when the binaries of
    ``binaries`` (variables naming commands) change."""
    builder: str
    tag: str
    action: Callable
    suffix: str
    varlist: tuple = ()
    command: Optional[Callable] = None
    binaries: tuple = ()
    names: str = "$TARGET"          # what the quiet line names
    quiet: bool = True              # False: the step prints its own lines


STEPS = (
    Step("PurgatoryUndefinedCheck", "CHK", _undefined_check, ".chk",
         ("LD", "PURGATORY_ENTRY"), binaries=("LD",),
         command=lambda: linkcheck.link_command("$LD", "$SOURCE", "$TARGET",
                                                "$PURGATORY_ENTRY")),
    Step("PurgatoryCheck", "CHECK", _purgatory_check, ".check",
         ("PURGATORY_ABI", "PURGATORY_SIMD", "TEST_RUN"), _check_command,
         names="$SOURCE"),
    Step("PurgatoryCArray", "BIN2C", _c_array, ".c",
         ("ARRAY_SYMBOL", "SIZE_SYMBOL"), _embed_command("c")),
    Step("PurgatoryIncbin", "INCBIN", _incbin, ".S",
         ("CC", "ARRAY_SYMBOL", "SIZE_SYMBOL", "PURGATORY_INCBIN_PATH"),
         _embed_command("S"), binaries=("CC",)),
    Step("PurgatoryIhex", "IHEX", _ihex, ".hex", ("LOAD_ADDR",),
         _embed_command("ihex")),
    Step("PurgatoryTestRun", "RUN", _test_run, ".json", quiet=False,
         command=lambda: _test_run_command(gate=False)),
    Step("PurgatoryRun", "RUN", _run_gate, ".run", quiet=False,
         command=lambda: _test_run_command(gate=True)),
)
# The builder of each embedded form.
FORM_BUILDERS = {"c": "PurgatoryCArray", "S": "PurgatoryIncbin",
                 "ihex": "PurgatoryIhex"}


def quiet_line(tag, node="$TARGET"):
    """A Kbuild-style progress line: two spaces, the tag in 8 columns, then
    the file the step makes (or, for a check, the file it reads)."""
    return f"  {tag:<8}{node}"


_VARIABLE = re.compile(r"\$([A-Z_]+)")


def _shell_word(word):
    """A word of a printed command, as the shell must see it: a variable's
    value quoted once SCons has substituted it (CC="ccache gcc" is one
    word), the node variables as SCons prints them."""
    match = _VARIABLE.fullmatch(word)
    if match and match.group(1) not in ("SOURCE", "TARGET"):
        return f"${{_purgatory_quote(__env__, {word!r})}}"
    return word if "$" in word else shlex.quote(word)


def _comstr(env, step):
    if step.command is None:
        return None
    if env["V"]:
        program, *arguments = step.command()
        return " ".join([program, *map(_shell_word, arguments)])
    return quiet_line(step.tag, step.names) if step.quiet else None


_package_version = []


def package_version(env):
    """A node standing for every module of this package (their paths and
    contents, hashed): an output written in Python depends on it, so a new
    version of any module rewrites it. One node, not a dependency on each
    of ~90 files: a null build checks one signature a step."""
    if not _package_version:
        digest = hashlib.sha256()
        for root, dirs, files in os.walk(PACKAGE_DIR):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith((".py", ".SConscript"))):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, PACKAGE_DIR).encode() + b"\0")
                with open(path, "rb") as f:
                    digest.update(f.read())
        _package_version.append(digest.hexdigest())
    return env.Value(_package_version[0], name="kexec_purgatory-modules")


def _add_step(env, step):
    env["BUILDERS"]["_" + step.builder] = SCons.Builder.Builder(
        action=SCons.Action.Action(step.action, _comstr(env, step),
                                   varlist=list(step.varlist)),
        suffix=step.suffix, src_suffix=".ro")

    def method(env, target, source, **overrides):
        nodes = getattr(env, "_" + step.builder)(target, source, **overrides)
        env.Depends(nodes, package_version(env))
        for variable in step.binaries:
            _depend_on_binary(env, nodes, variable)
        return nodes
    env.AddMethod(method, step.builder)


# --- Compile and link -----------------------------------------------------

_binaries = {}


def _binary(env, var):
    """(program, real path of its binary or None) of the command in
    ``var``; each command is looked up in PATH once a run, not once a node."""
    try:
        words = flags.split_flags(env.subst(f"${var}"), var)
    except UserError as e:
        raise _stop(e) from None
    program = words[0] if words else ""
    key = (program, env["ENV"].get("PATH"))
    if key not in _binaries:
        path = env.WhereIs(program, path=env["ENV"].get("PATH")) if program else None
        _binaries[key] = os.path.realpath(path) if path else None
    return program, _binaries[key]


def _depend_on_binary(env, nodes, var):
    """Make nodes depend on the command's binary, so a new compiler rebuilds."""
    path = _binary(env, var)[1]
    if path:
        env.Depends(nodes, env.File(path))


def _require_tools(env):
    """One clear line when the compiler or linker is not there."""
    if SCons.Script.GetOption("help") or SCons.Script.GetOption("clean"):
        return
    for var, what in (("CC", "C compiler"), ("LD", "linker")):
        program, path = _binary(env, var)
        if path is None:
            raise SCons.Errors.StopError(
                f"purgatory: {what} '{program}' ({var}) not found in PATH: "
                f"install it, or set {var}= or CROSS_COMPILE=")


def _object(env, source, target=None, **overrides):
    """Compile one source; forced includes are files it depends on."""
    forced = overrides.get("PURGATORY_FORCED_INCLUDES",
                           env.get("PURGATORY_FORCED_INCLUDES", []))
    forced = env.arg2nodes(forced, env.fs.File)
    overrides["PURGATORY_FORCED_INCLUDES"] = forced
    overrides["_PURGATORY_FORCED_INCLUDE_FLAGS"] = [
        word for header in forced for word in ("-include", header)]
    nodes = env._PurgatoryObject(target, source, **overrides)
    env.Depends(nodes, forced)
    _depend_on_binary(env, nodes, "CC")
    return nodes


def _linker_script(env, linker_script, overrides):
    """The linker script's node (None without one), its -T flag put in
    ``overrides``."""
    if linker_script is None:
        return None
    script = env.File(linker_script)
    overrides["PURGATORY_LDSCRIPT_FLAGS"] = ["-T", script]
    return script


def _relocatable(env, target, objects, linker_script=None, **overrides):
    """ld -r of the objects, in the order given."""
    script = _linker_script(env, linker_script, overrides)
    nodes = env._PurgatoryRelocatable(target, objects, **overrides)
    if script is not None:
        env.Depends(nodes, script)
    _depend_on_binary(env, nodes, "LD")
    return nodes


# --- The whole pipeline ---------------------------------------------------

class PurgatoryNodes(SCons.Node.NodeList):
    """What ``env.Purgatory`` built: a node list (purgatory.ro, the gates,
    the embedded forms, the build record) to pass on as any builder's
    result, with the parts by name."""
    objects = relocatable = undefined_check = check = run = buildinfo = None
    outputs = ()


def _validate_names(env, overrides):
    """Symbol names and formats, from the environment or one call's overrides."""
    names = ("ARRAY_SYMBOL", "SIZE_SYMBOL")
    validate_symbols(*(env.subst(overrides.get(var, f"${var}"))
                       for var in names), names)
    chosen = formats.parse_formats(overrides.get("FORMATS", env.subst("$FORMATS")))
    load_addr = env.subst(overrides.get("LOAD_ADDR", "$LOAD_ADDR"))
    if "ihex" in chosen:
        ihex.parse_load_addr(load_addr)
        _require_module("intelhex", "intelhex", " (FORMATS=ihex)")
    else:
        # Its syntax at least, always: a bad value must not wait for the
        # day ihex is chosen (the page size needs abi/, ~6 ms a null build).
        parse_size(load_addr, "LOAD_ADDR")
    return chosen


def _purgatory(env, target="purgatory.ro", source=(), linker_script=None,
               objects=(), formats=None, **overrides):
    """The whole pipeline; embedded outputs wait for every gate to pass.

    ``target`` is purgatory.ro's name; the side files (``.chk``, ``.check``,
    ``.buildinfo``, same stem) and the embedded forms (``kexec-purgatory.c``
    ...) go beside it. ``source`` are compiled and linked in order;
    ``objects`` are already built (e.g. by PurgatoryObject with flags of
    their own) and linked after them. Gates run in order LD, CHK, CHECK: an
    undefined symbol is reported by the link, everything else the kernel's
    loader would refuse by the checker. ``formats`` (default: ``$FORMATS``)
    picks the embedded forms.
    """
    if formats is not None:
        overrides["FORMATS"] = formats
    ro = env.arg2nodes(target, env.fs.File)[0]
    sources = env.Flatten([source])
    prebuilt = env.Flatten(list(objects))
    _validated_formats(env, overrides)
    compiled = [env.PurgatoryObject(source=s, **overrides)[0] for s in sources]
    objects = [*compiled, *prebuilt]
    env.PurgatoryRelocatable(ro, objects, linker_script=linker_script,
                             **overrides)
    script = _linker_script(env, linker_script, {})
    inputs = [*sources, *(s for o in prebuilt for s in o.sources),
              *([script] if script is not None else [])]
    if script is not None:
        overrides["PURGATORY_LDSCRIPT_FLAGS"] = ["-T", script]
    return _outputs(env, ro, objects, inputs, **overrides)


def _kernel_purgatory(env, out, src, obj=None, variables=None):
    """Kernel mode: SRC's own purgatory with Kbuild's commands (see
    ``scons.kernel``); imported only by trees that use it."""
    from . import kernel
    return kernel.kernel_purgatory(env, out, src, obj, variables)


def _validated_formats(env, overrides):
    try:
        return _validate_names(env, overrides)
    except UserError as e:
        raise _stop(e) from None


def _outputs(env, relocatable, objects=(), inputs=(), undefined_check=None,
             formats=None, **overrides):
    """The gates, the embedded forms and the build record of a purgatory.ro
    built by other means (kernel mode: by Kbuild's own link). Without
    ``undefined_check`` (a node that fails when a symbol is undefined, as
    Kbuild's purgatory.chk link) the tool's own full link gates it.
    ``inputs``: the sources the record lists (their headers are scanned)."""
    if formats is not None:
        overrides["FORMATS"] = formats
    chosen = _validated_formats(env, overrides)
    ro = env.arg2nodes(relocatable, env.fs.File)[0]
    directory, stem = ro.dir, os.path.splitext(ro.name)[0]
    outputs = []
    for form in chosen:
        name = directory.File(formats_default_output(form))
        outputs += getattr(env, FORM_BUILDERS[form])(name, ro, **overrides)
    # A form not chosen now may be there from an earlier build: scons -c
    # removes it too.
    env.Clean(ro, [directory.File(formats_default_output(form))
                   for form in FORM_BUILDERS if form not in chosen])
    # What each gate removes when it fails: everything after it, so that
    # no earlier build's record or report stays beside a bad purgatory.ro.
    info_file = directory.File(stem + ".buildinfo")
    check_file, run_file = (directory.File(stem + suffix)
                            for suffix in (".check", ".run"))
    test_run = _enabled(overrides.get("TEST_RUN", env.get("TEST_RUN", True)))
    after_run = [*outputs, info_file]
    after_check = [run_file, *after_run]
    if undefined_check is None:
        chk = env.PurgatoryUndefinedCheck(
            directory.File(stem + ".chk"), ro,
            PURGATORY_GATED=[check_file, *after_check], **overrides)[0]
    else:
        chk = env.arg2nodes(undefined_check, env.fs.File)[0]
    checked = env.PurgatoryCheck(check_file, ro, PURGATORY_GATED=after_check,
                                 PURGATORY_NOT_RUN=[] if test_run else [run_file],
                                 **overrides)
    env.Depends(checked, chk)
    gates = [chk, checked[0]]
    if test_run:
        ran = env.PurgatoryRun(run_file, ro, PURGATORY_GATED=after_run,
                               **overrides)
        env.Depends(ran, [chk, checked])
        gates.append(ran[0])
    else:
        env.Clean(ro, run_file)
        _say_once(env, "  RUN     off (TEST_RUN=no): purgatory.ro is "
                  "embedded without running it in emulation")
    env.Depends(outputs, gates)
    objects = env.Flatten(list(objects))
    info = record.build_info_node(env, info_file,
                                  ro, outputs, inputs, objects, **overrides)
    _depend_on_binary(env, info, "CC")
    _depend_on_binary(env, info, "LD")
    nodes = PurgatoryNodes([ro, *gates, *outputs, info[0]])
    nodes.objects, nodes.relocatable = objects, ro
    nodes.undefined_check, nodes.check = chk, checked[0]
    nodes.run = gates[2] if test_run else None
    nodes.outputs, nodes.buildinfo = list(outputs), info[0]
    return nodes


def _enabled(value):
    """A yes/no variable's value (True, "yes", "0", ...) as a bool."""
    return str(value).lower() not in ("", "0", "false", "no", "off", "n")


_said = set()


def _say_once(env, line):
    """A line about the build's setup, once a run, not for -h or -c."""
    if line in _said or SCons.Script.GetOption("help") or \
            SCons.Script.GetOption("clean"):
        return
    _said.add(line)
    print(line)


def formats_default_output(form):
    return formats.form(form).DEFAULT_OUTPUT


def _install(env, directory, nodes):
    """SCons' Install of ``nodes`` into ``directory`` ($DESTDIR$PREFIX/...),
    copying content only: mode 0644, mtime SOURCE_DATE_EPOCH or now."""
    try:
        directory = env.Dir(directory)
    except TypeError as e:      # SCons: a file where a directory is needed
        raise SCons.Errors.StopError(
            f"install directory {env.subst(str(directory))} (DESTDIR, "
            f"PREFIX): {e}") from None
    epoch = install.source_date_epoch(env["ENV"])

    def copy(dest, source, env):
        try:
            install.install_file(source, dest, epoch)
        except UserError as e:
            raise SCons.Errors.BuildError(errstr=str(e)) from None
        return 0
    installed = env.Install(directory, nodes, INSTALL=copy, INSTALLSTR=(
        "install -m 0644 $SOURCE $TARGET" if env["V"]
        else quiet_line("INSTALL")))
    env.Depends(installed, env.Value(epoch))
    return installed


def _manual(env, directory):
    """The ``kexec-purgatory`` man page and shell completions, generated
    from the command's argparse definitions under ``directory`` (laid out
    as share/: man/man1/..., bash-completion/completions/...); the nodes,
    in the order of ``build.install.MANUAL_FILES``, for a tree's install
    alias."""
    directory = env.Dir(directory)
    names = install.MANUAL_FILES

    def write(target, source, env):
        def step():
            from ..cli import manual
            try:
                texts = manual.generated()
            except ImportError as e:
                raise UserError(f"the man page and completion need the Python "
                                f"package '{e.name}' (pip install this "
                                "project)") from None
            for node, name in zip(target, names):
                write_atomically(node.path, texts[name].encode())
        return _user_step(step)
    nodes = env.Command([directory.File(n) for n in names], [],
                        SCons.Action.Action(write, "" if env["V"] else
                                            quiet_line("MAN", "$TARGETS")))
    env.Depends(nodes, package_version(env))
    return nodes


# Variables of a build that do not change its outputs, so are not passed on.
_NOT_FOR_REPRO = {"O", "V", "CACHEDIR", "PREFIX", "DESTDIR",
                  "BOOT_KERNEL_O", "BOOT_TEST_ARGS"}


def _cli_environment():
    """The environment in which ``python -m kexec_purgatory`` finds this
    package (the one SCons loaded)."""
    parent = os.path.dirname(PACKAGE_DIR)
    path = os.pathsep.join(p for p in (parent, os.environ.get("PYTHONPATH"))
                           if p)
    return {**os.environ, "PYTHONPATH": path}


def _verify_reproducible(env, record_node, output_dir,
                         alias="verify-reproducible"):
    """An alias running ``kexec-purgatory repro`` on this tree with the
    build's own variables, on the build record ``record_node`` (found in
    each build under its output directory ``output_dir``); it fails when
    the builds differ."""
    record_path = os.path.relpath(env.File(record_node).abspath,
                                  env.Dir(output_dir).abspath)
    sets = [f"--set={name}={value}"
            for name, value in sorted(SCons.Script.ARGUMENTS.items())
            if name not in _NOT_FOR_REPRO]
    command = [sys.executable, "-m", "kexec_purgatory", "repro",
               env.Dir("#").abspath, f"--record={record_path}", *sets]

    def repro(target, source, env):
        return subprocess.call(command, env=_cli_environment())
    node = env.Alias(alias, [], SCons.Action.Action(
        repro, "kexec-purgatory repro " + " ".join(command[4:])))
    env.AlwaysBuild(node)
    return node


def _boot_test(env, purgatory_node, source_tree, output_dir,
               alias="boot-test"):
    """An alias running ``kexec-purgatory boot-test``: the small kernel
    built (once, in $BOOT_KERNEL_O) from ``source_tree`` with
    ``purgatory_node`` embedded, booted in QEMU and kexec'd through it; the
    serial logs and the bzImage in ``output_dir``/boot-test.  It fails when
    a path does not reach the second kernel."""
    out = env.Dir(output_dir).Dir("boot-test")
    command = [sys.executable, "-m", "kexec_purgatory", "boot-test",
               "--source", source_tree,
               "--kernel-o", env.Dir(env.subst("$BOOT_KERNEL_O")).abspath,
               "--purgatory", env.File(purgatory_node).abspath,
               "--logs", out.abspath,
               *shlex.split(env.subst("$BOOT_TEST_ARGS"))]

    def boot_test(target, source, env):
        return subprocess.call(command, env=_cli_environment())
    node = env.Alias(alias, [purgatory_node], SCons.Action.Action(
        boot_test, "kexec-purgatory " + " ".join(map(shlex.quote, command[3:]))))
    env.AlwaysBuild(node)
    return node


# --- generate / exists ----------------------------------------------------

def _require_module(module, package, needed_for=""):
    """One line naming the Python package to install when a module is
    missing; only looks it up (importing would slow every null build)."""
    import importlib.util
    if importlib.util.find_spec(module) is None:
        raise SCons.Errors.StopError(
            f"purgatory: Python package '{package}' is missing{needed_for} "
            f"(pip install {package}, or pip install this project)")


def kernel_mode(env):
    """Whether ``KERNEL=SRC`` asks for that tree's own purgatory (kernel
    mode); ``scons boot-test KERNEL=SRC`` without ``KERNEL_O`` names the
    small kernel's source instead, and builds this tree's purgatory."""
    return bool(env.get("KERNEL")) and bool(
        env.get("KERNEL_O") or "boot-test" not in SCons.Script.COMMAND_LINE_TARGETS)


def _set_flags(env):
    """Purgatory flags from CODE_MODEL and the user's filtered flags."""
    try:
        if kernel_mode(env):
            # CODE_MODEL has a default of its own: refused only when given.
            flags.refuse_in_kernel_mode({
                "CFLAGS": env.get("CFLAGS"), "CPPFLAGS": env.get("CPPFLAGS"),
                "CODE_MODEL": SCons.Script.ARGUMENTS.get("CODE_MODEL")})
        chosen = flags.purgatory_flags(env["CODE_MODEL"], env.get("CFLAGS", ""),
                                       env.get("CPPFLAGS", ""))
        env["PURGATORY_CFLAGS"] = chosen.cflags
        env["PURGATORY_ASFLAGS"] = chosen.asflags
        _validate_names(env, {})
        install.source_date_epoch(env["ENV"])
    except UserError as e:
        raise _stop(e) from None
    if chosen.dropped_message and not SCons.Script.GetOption("help"):
        print(chosen.dropped_message)


def _quoted_value(env, text):
    """A variable's value as one single-quoted shell word."""
    return "'" + env.subst(text).replace("'", "'\\''") + "'"


def _prefix_map(env):
    return flags.prefix_map_flags(
        env.Dir("#").abspath,
        env.Dir(env.subst("$PURGATORY_OUTPUT_DIR")).abspath)


def generate(env, **defaults):
    """Add the builders. ``defaults`` change the defaults of the tool's
    variables for this tree (a value given on the command line wins)."""
    for name, value in defaults.items():
        if name not in SCons.Script.ARGUMENTS:
            env[name] = value
    env.SetDefault(CROSS_COMPILE="", CC="${CROSS_COMPILE}gcc",
                   LD="${CROSS_COMPILE}ld", CFLAGS="", CPPFLAGS="",
                   CODE_MODEL="pic", ARRAY_SYMBOL="kexec_purgatory",
                   SIZE_SYMBOL="kexec_purgatory_size",
                   FORMATS=formats.DEFAULT_FORMATS,
                   LOAD_ADDR=ihex.DEFAULT_LOAD_ADDR, V=False, TEST_RUN=True)
    env["ENV"] = environment.command_environment(os.environ)
    _require_module("elftools", "pyelftools")
    _require_module("capstone", "capstone", " (the checker step)")
    if _enabled(env.get("TEST_RUN", True)):
        _require_module("unicorn", "unicorn", " (the RUN gate; TEST_RUN=no "
                        "turns it off)")
    _set_flags(env)
    _require_tools(env)
    env.SetDefault(
        INCPREFIX="-I", INCSUFFIX="", CPPDEFPREFIX="-D", CPPDEFSUFFIX="",
        CPPPATH=[], CPPDEFINES=[],
        PURGATORY_ENTRY="purgatory_start",
        PURGATORY_ABI="kernel",
        # The checker's --simd: "none" (no SIMD at all) unless a tree's own
        # sources dispatch to SIMD code (this tree's SHA256=auto).
        PURGATORY_SIMD="none",
        PURGATORY_LDSCRIPT_FLAGS=[],
        PURGATORY_LDFLAGS=["-r", "-e", "$PURGATORY_ENTRY", "-z", "nodefaultlib"],
        PURGATORY_FORCED_INCLUDES=[], _PURGATORY_FORCED_INCLUDE_FLAGS=[],
        PURGATORY_INCBIN_PATH="",
        # Where outputs go (a tree sets it to its O): mapped to "." with the
        # tree itself, so no build path reaches an object.
        PURGATORY_OUTPUT_DIR="#",
        _purgatory_prefix_map=_prefix_map,
        _purgatory_quote=_quoted_value,
        PURGATORY_PREFIX_MAP="${_purgatory_prefix_map(__env__)}",
    )
    # Unlike SCons' own _CPPINCFLAGS, the include path is part of the
    # command's signature: changing it rebuilds.
    env["_PURGATORY_INCFLAGS"] = ("${_concat(INCPREFIX, CPPPATH, INCSUFFIX, "
                                  "__env__, RDirs, TARGET, SOURCE)}")
    # The path maps are left out of the signature ($( $)): they only undo
    # the build path, so a CacheDir serves builds in any directory.
    for language, flag_var in (("CC", "PURGATORY_CFLAGS"),
                               ("AS", "PURGATORY_ASFLAGS")):
        env[f"PURGATORY_{language}COM"] = (
            f"$CC -o $TARGET -c ${flag_var} $_CPPDEFFLAGS $_PURGATORY_INCFLAGS "
            "$_PURGATORY_FORCED_INCLUDE_FLAGS $( $PURGATORY_PREFIX_MAP $) "
            "$SOURCE")
        env[f"PURGATORY_{language}COMSTR"] = "" if env["V"] else quiet_line(language)
    env["PURGATORY_LDCOM"] = ("$LD $PURGATORY_LDFLAGS $PURGATORY_LDSCRIPT_FLAGS "
                              "-o $TARGET $SOURCES")
    env["PURGATORY_LDCOMSTR"] = "" if env["V"] else quiet_line("LD")
    env["PURGATORY_INFOCOMSTR"] = ("# build record of $SOURCE -> $TARGET"
                                   if env["V"] else quiet_line("INFO"))
    env["BUILDERS"]["_PurgatoryObject"] = SCons.Builder.Builder(
        action={
            ".c": SCons.Action.Action("$PURGATORY_CCCOM", "$PURGATORY_CCCOMSTR"),
            ".S": SCons.Action.Action("$PURGATORY_ASCOM", "$PURGATORY_ASCOMSTR"),
        },
        suffix=".o", src_suffix=[".c", ".S"],
        source_scanner=SCons.Scanner.C.CScanner(),
        # _depend_on_binary() tracks the real compiler binary already;
        # SCons' own lookup would search PATH again for every target at
        # every run and hash the same binary once more through its symlink.
        IMPLICIT_COMMAND_DEPENDENCIES=0)
    env["BUILDERS"]["_PurgatoryRelocatable"] = SCons.Builder.Builder(
        action=SCons.Action.Action("$PURGATORY_LDCOM", "$PURGATORY_LDCOMSTR"),
        suffix=".ro", src_suffix=".o", IMPLICIT_COMMAND_DEPENDENCIES=0)
    for step in STEPS:
        _add_step(env, step)
    record.add_builder(env)
    env.Tool("install")
    env.AddMethod(_object, "PurgatoryObject")
    env.AddMethod(_relocatable, "PurgatoryRelocatable")
    env.AddMethod(_purgatory, "Purgatory")
    env.AddMethod(_outputs, "PurgatoryOutputs")
    env.AddMethod(_kernel_purgatory, "KernelPurgatory")
    env.AddMethod(_install, "PurgatoryInstall")
    env.AddMethod(_manual, "PurgatoryManual")
    env.AddMethod(_verify_reproducible, "PurgatoryVerifyReproducible")
    env.AddMethod(_boot_test, "PurgatoryBootTest")


def exists(env):
    """Whether the C compiler the tool would use ($CC, else
    ${CROSS_COMPILE}gcc) is there."""
    compiler = env.subst("$CC") if env.get("CC") else env.subst("${CROSS_COMPILE}gcc")
    words = compiler.split()
    return bool(words and env.WhereIs(words[0]))
