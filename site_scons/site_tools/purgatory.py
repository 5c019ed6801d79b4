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
  env.PurgatoryIncbin(target, ro)             ro -> kexec-purgatory.S, assembled
                                              and read back before it is kept
  env.PurgatoryIhex(target, ro)               ro relocated at $LOAD_ADDR -> .hex
  env.PurgatoryInstall(directory, nodes)      copies, mode 0644, no build mtime
  env.PurgatoryBuildInfo(target, ro, outputs, inputs)  -> purgatory.buildinfo
  env.PurgatoryVerifyReproducible()          alias running 'kexec-purgatory repro'
  env.Purgatory(sources, linker_script=..., objects=...)
                                              all of them, in order, gated
  env.PurgatoryTestRun(target, ro)            emulated runs -> JSON report

Nothing here knows the layout of the tree that uses it: sources, include
paths (``CPPPATH=``), defines (``CPPDEFINES=``), forced includes
(``PURGATORY_FORCED_INCLUDES=``, given to the compiler as ``-include``),
output names and symbol names are all arguments.

The command-line variables (``scons -h``) come from
``kexec_purgatory.variables``; ``generate(env, **defaults)`` lets a tree
change their defaults.
"""

import collections
import importlib.util
import os
import shlex
import subprocess
import sys

import SCons.Action
import SCons.Builder
import SCons.Errors
import SCons.Node.FS
import SCons.Scanner
import SCons.Scanner.C
import SCons.Script
from SCons.Variables import BoolVariable, EnumVariable, Variables


def _import_package():
    """Import kexec_purgatory: the copy this tool ships with comes first.

    The tool lives in site_scons/site_tools/ beside site_scons/kexec_purgatory/
    (a checkout, a copied site_scons/), or in kexec_purgatory/site_tools/ (a
    wheel); another version installed elsewhere must not shadow its own.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (os.path.dirname(here), os.path.dirname(os.path.dirname(here))):
        if os.path.isfile(os.path.join(root, "kexec_purgatory", "__init__.py")):
            if root not in sys.path:
                sys.path.insert(0, root)
            break
    try:
        import kexec_purgatory  # noqa: F401
    except ImportError:
        raise SCons.Errors.StopError(
            f"purgatory: Python package 'kexec_purgatory' is neither beside "
            f"the tool ({os.path.dirname(here)}) nor installed (copy all of "
            "site_scons/, or pip install this project)") from None
    _require_module("elftools", "pyelftools")
    _require_module("capstone", "capstone", " (the checker step)")


def _require_module(module, package, needed_for=""):
    """One line naming the Python package to install when a module is missing.

    Only looks the module up: importing capstone or intelhex here would
    make every null build pay for them.
    """
    if importlib.util.find_spec(module) is None:
        raise SCons.Errors.StopError(
            f"purgatory: Python package '{package}' is missing{needed_for} "
            f"(pip install {package}, or pip install this project)") from None


_import_package()

from kexec_purgatory import buildinfo, embed, flags, ihex, incbin, install, linkcheck, toolenv  # noqa: E402
from kexec_purgatory.variables import NAMES, VARIABLES  # noqa: E402
from kexec_purgatory.errors import UserError  # noqa: E402
from kexec_purgatory.files import check_output_dir, read_bytes, remove_stale, write_atomically  # noqa: E402

PurgatoryNodes = collections.namedtuple(
    "PurgatoryNodes",
    "objects relocatable undefined_check check outputs buildinfo")

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
    def step():
        try:    # capstone: imported only when the step runs
            from kexec_purgatory import check
        except ImportError as e:
            raise UserError(f"the checker needs the Python package '{e.name}' "
                            "(pip install this project)") from None
        findings = check.check_file(source[0].path, env.subst("$PURGATORY_ABI"))
        report = "".join(f"{f.text()}\n" for f in findings)
        sys.stderr.write(report)
        if check.exit_status(findings):
            return 1
        write_atomically(target[0].path, report.encode())
        return 0
    return _gate(env, _user_step(step))


def _incbin(target, source, env):
    return _user_step(lambda: incbin.write_incbin(
        target[0].path, source[0].path, shlex.split(env.subst("$CC")),
        env.subst("$ARRAY_SYMBOL"), env.subst("$SIZE_SYMBOL"),
        env.subst("$PURGATORY_INCBIN_PATH") or None, env["ENV"]))


def _install(target, source, env):
    return _user_step(lambda: install.install_file(
        source[0].path, target[0].path,
        install.source_date_epoch(env["ENV"])))


def _ihex(target, source, env):
    return _user_step(lambda: ihex.write_relocated_ihex(
        target[0].path, source[0].path, env.subst("$LOAD_ADDR")))


def _c_array(target, source, env):
    return _user_step(lambda: embed.write_c_array(
        target[0].path, source[0].path, env.subst("$ARRAY_SYMBOL"),
        env.subst("$SIZE_SYMBOL")))


def _build_info(target, source, env):
    """Write the build record: source[0] is purgatory.ro, the built
    sources are the generated outputs, the rest (with the headers the
    scanner found) are the inputs."""
    tree = env.Dir(env.get("PURGATORY_SOURCE_ROOT", "#")).abspath
    out_dir = target[0].dir.abspath
    others = {env.Dir(d).abspath: name
              for d, name in env.get("PURGATORY_RECORD_PATHS", {}).items()}
    objects = env.Flatten([env.get("PURGATORY_RECORD_OBJECTS", [])])

    def step():
        built = [n for n in source[1:] if n.has_builder()]
        inputs = {}
        for node in [*source[1:], *(target[0].implicit or [])]:
            if node.has_builder() or not isinstance(node, SCons.Node.FS.File):
                continue
            path = node.srcnode().abspath
            if path.startswith(os.path.join(tree, "")):
                inputs[os.path.relpath(path, tree)] = path

        # The path maps as placeholders: their values are the build's paths.
        path_maps = flags.prefix_map_flags(buildinfo.TREE_PLACEHOLDER,
                                           buildinfo.OUTPUT_PLACEHOLDER)

        def effective(kind):
            words = env.subst_list(_BUILDINFO_FLAGS[kind], target=target,
                                   source=source)[0]
            words = buildinfo.path_free([str(w) for w in words], tree,
                                        out_dir, others)
            if kind != "ld" and env["PURGATORY_PREFIX_MAP"]:
                words += path_maps
            return words

        compiled = _compiled_record(env, objects, tree, out_dir, others,
                                    path_maps)
        uniform = compiled["tree_wide_flags"]
        record = buildinfo.build_record(
            relocatable=source[0].abspath,
            outputs={os.path.relpath(n.abspath, out_dir): n.abspath
                     for n in built},
            sources=dict(sorted(inputs.items())),
            cc_version=buildinfo.first_version_line(
                shlex.split(env.subst("$CC")), env["ENV"]),
            ld_version=buildinfo.first_version_line(
                shlex.split(env.subst("$LD")), env["ENV"]),
            code_model=env["CODE_MODEL"] if uniform else None,
            cflags=effective("c") if uniform else None,
            asflags=effective("asm") if uniform else None,
            ldflags=effective("ld"), commands=compiled["commands"])
        write_atomically(target[0].abspath, buildinfo.dumps(record))
    return _user_step(step)


def _compiled_record(env, objects, tree, out_dir, others, path_maps):
    """The build record's account of the objects: each object's compile
    command, path-free as the record's other flags, and whether every
    object used the tree-wide flags (a kernel tree's have their own).
    Paths are spelled from the top directory, as the commands run; the
    path maps as the record spells them (``path_maps``)."""
    fs = env.fs
    here = fs.getcwd()
    fs.chdir(fs.Top, change_os_dir=False)
    relative_out = os.path.relpath(out_dir, fs.Top.abspath)
    try:
        commands, uniform = {}, True
        for obj in objects:
            build_env = obj.get_executor().get_build_env()
            assembly = str(obj.sources[0]).endswith(".S")
            command = build_env.Override({
                "PURGATORY_PREFIX_MAP":
                    path_maps if build_env["PURGATORY_PREFIX_MAP"] else []}).subst(
                "$PURGATORY_ASCOM" if assembly else "$PURGATORY_CCCOM",
                target=[obj], source=obj.sources)
            commands[os.path.relpath(obj.abspath, out_dir)] = \
                buildinfo.path_free(shlex.split(command), tree, out_dir,
                                    others, relative_out)
            own = "$PURGATORY_ASFLAGS" if assembly else "$PURGATORY_CFLAGS"
            uniform &= build_env.subst(own) == env.subst(own)
        return {"commands": commands, "tree_wide_flags": uniform}
    finally:
        fs.chdir(here, change_os_dir=False)


# The flags a build record lists (the path maps as placeholders).
_BUILDINFO_FLAGS = {
    "c": "$PURGATORY_CFLAGS $_CPPDEFFLAGS $_PURGATORY_INCFLAGS",
    "asm": "$PURGATORY_ASFLAGS $_CPPDEFFLAGS $_PURGATORY_INCFLAGS",
    "ld": "$PURGATORY_LDFLAGS $PURGATORY_LDSCRIPT_FLAGS",
}


def _scan_source_headers(node, env, path):
    """Headers of the C and assembler inputs (not of generated outputs)."""
    if node.has_builder() or node.get_suffix() not in (".c", ".S", ".h"):
        return []
    return _C_SCANNER(node, env, path)


_C_SCANNER = SCons.Scanner.C.CScanner()


# What V=1 prints for the steps that run in Python: an equivalent command.
_VERBOSE_PYTHON_STEPS = {
    "PURGATORY_CHKCOMSTR": " ".join(linkcheck.link_command(
        "$LD", "$SOURCE", "$TARGET", "$PURGATORY_ENTRY")),
    "PURGATORY_CHECKCOMSTR": "kexec-purgatory check --abi $PURGATORY_ABI $SOURCE",
    "PURGATORY_INFOCOMSTR": "# build record of $SOURCE -> $TARGET",
    "PURGATORY_BIN2CCOMSTR": ("kexec-purgatory embed --format c "
                              "--array-symbol $ARRAY_SYMBOL "
                              "--size-symbol $SIZE_SYMBOL -o $TARGET $SOURCE"),
    "PURGATORY_INCBINCOMSTR": ("kexec-purgatory embed --format S --cc '$CC' "
                               "--array-symbol $ARRAY_SYMBOL "
                               "--size-symbol $SIZE_SYMBOL --incbin-path "
                               "${PURGATORY_INCBIN_PATH or SOURCE.file} "
                               "-o $TARGET $SOURCE"),
    "PURGATORY_IHEXCOMSTR": ("kexec-purgatory embed --format ihex "
                             "--load-addr $LOAD_ADDR -o $TARGET $SOURCE"),
    "PURGATORY_INSTALLCOMSTR": "install -m 0644 $SOURCE $TARGET",
}

_QUIET_TAGS = {
    "PURGATORY_CCCOMSTR": "CC",
    "PURGATORY_ASCOMSTR": "AS",
    "PURGATORY_LDCOMSTR": "LD",
    "PURGATORY_CHKCOMSTR": "CHK",
    "PURGATORY_CHECKCOMSTR": "CHECK",
    "PURGATORY_BIN2CCOMSTR": "BIN2C",
    "PURGATORY_INCBINCOMSTR": "INCBIN",
    "PURGATORY_IHEXCOMSTR": "IHEX",
    "PURGATORY_INSTALLCOMSTR": "INSTALL",
    "PURGATORY_INFOCOMSTR": "INFO",
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
        if env["PURGATORY_TEST_DEBUG"]:
            env["PURGATORY_CFLAGS"] += flags.TEST_DEBUG_CFLAGS
            env["PURGATORY_PREFIX_MAP"] = []
        else:
            tree = env.Dir("#").abspath
            env["PURGATORY_PREFIX_MAP"] = flags.prefix_map_flags(
                tree, os.path.normpath(os.path.join(tree, env.subst("$O"))))
        # Writable only when given: a tree that never uses O (a kernel
        # tree's own SConstruct) may well be read-only.
        check_output_dir(env.Dir("#").abspath, env.subst("$O"), "O",
                         writable="O" in SCons.Script.ARGUMENTS)
        _validate_names(env, {})
        install.source_date_epoch(env["ENV"])
    except UserError as e:
        raise SCons.Errors.StopError(str(e)) from None
    message = flags.dropped_message({"CFLAGS": dropped_c,
                                     "CPPFLAGS": dropped_cpp})
    if message and not SCons.Script.GetOption("help"):
        print(message)


def _validate_names(env, overrides):
    """Symbol names and formats, from the environment or one call's overrides."""
    names = ("ARRAY_SYMBOL", "SIZE_SYMBOL")
    embed.validate_symbols(*(env.subst(overrides.get(var, f"${var}"))
                             for var in names), names)
    formats = embed.parse_formats(overrides.get("FORMATS", env.subst("$FORMATS")))
    if "ihex" in formats:
        ihex.parse_load_addr(env.subst(overrides.get("LOAD_ADDR", "$LOAD_ADDR")))
        _require_module("intelhex", "intelhex", " (FORMATS=ihex)")
    return formats


_binaries = {}


def _binary(env, var):
    """(program, real path of its binary or None) of the command in
    ``var``; each command is looked up in PATH once a run, not once a node."""
    try:
        words = flags.split_flags(env.subst(f"${var}"), var)
    except UserError as e:
        raise SCons.Errors.StopError(str(e)) from None
    program = words[0] if words else ""
    key = (program, env["ENV"].get("PATH"))
    if key not in _binaries:
        path = env.WhereIs(program) if program else None
        _binaries[key] = os.path.realpath(path) if path else None
    return program, _binaries[key]


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


def _dependency_on(env, nodes, command_var):
    """Make nodes depend on the tool binary, so a new compiler rebuilds."""
    path = _binary(env, command_var)[1]
    if path:
        env.Depends(nodes, env.File(path))


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


def _dependency_on_modules(env, nodes, modules):
    """Make nodes written by Python depend on the package modules writing
    them (a sub-package stands for all its modules), so that a new version
    of the tool rewrites its outputs."""
    package = os.path.dirname(os.path.abspath(embed.__file__))
    files = []
    for module in modules:
        path = os.path.join(package, module)
        if os.path.isdir(path):
            files += sorted(os.path.join(path, name) for name in os.listdir(path)
                            if name.endswith(".py"))
        else:
            files.append(path)
    env.Depends(nodes, [env.File(f) for f in files])


# The steps that read purgatory.ro and run in Python: builder, action, the
# variable of its output line, the variables its output depends on, the
# target's suffix, the package modules that write the output, and the
# commands whose binaries it runs.
_RO_STEPS = (
    ("PurgatoryUndefinedCheck", _undefined_check, "$PURGATORY_CHKCOMSTR",
     ["LD", "PURGATORY_ENTRY"], ".chk", ("linkcheck.py",), ("LD",)),
    ("PurgatoryCheck", _purgatory_check, "$PURGATORY_CHECKCOMSTR",
     ["PURGATORY_ABI"], ".check", ("check", "elffile.py"), ()),
    ("PurgatoryCArray", _c_array, "$PURGATORY_BIN2CCOMSTR",
     ["ARRAY_SYMBOL", "SIZE_SYMBOL"], ".c", ("embed.py",), ()),
    ("PurgatoryIncbin", _incbin, "$PURGATORY_INCBINCOMSTR",
     ["CC", "ARRAY_SYMBOL", "SIZE_SYMBOL", "PURGATORY_INCBIN_PATH"], ".S",
     ("embed.py", "incbin.py", "elffile.py"), ("CC",)),
    ("PurgatoryIhex", _ihex, "$PURGATORY_IHEXCOMSTR", ["LOAD_ADDR"], ".hex",
     ("ihex.py", "loader.py", "elffile.py"), ()),
    # Prints a line per emulated run itself.
    ("PurgatoryTestRun", _test_run, None, [], ".json",
     ("loader.py", "emulator.py", "machine.py", "segments.py",
      "address_space.py", "testrun.py", "elffile.py"), ()),
)


def _add_ro_step(env, name, action, comstr, varlist, suffix, modules, commands):
    """Builder ``name``: target from purgatory.ro, rebuilt when the modules
    or the commands' binaries change."""
    env["BUILDERS"]["_" + name] = SCons.Builder.Builder(
        action=SCons.Action.Action(action, comstr, varlist=varlist),
        suffix=suffix, src_suffix=".ro")

    def method(env, target, source, **overrides):
        nodes = getattr(env, "_" + name)(target, source, **overrides)
        _dependency_on_modules(env, nodes, modules)
        for command in commands:
            _dependency_on(env, nodes, command)
        return nodes
    env.AddMethod(method, name)


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
    _dependency_on(env, nodes, "LD")
    return nodes


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
    _dependency_on(env, nodes, "CC")
    return nodes


def _install_method(env, directory, sources):
    """Install each node into ``directory`` (substituted: $DESTDIR$PREFIX/...)."""
    try:
        directory = env.Dir(directory)
    except TypeError as e:      # SCons: a file where a directory is needed
        raise SCons.Errors.StopError(
            f"install directory {env.subst(str(directory))} (DESTDIR, "
            f"PREFIX): {e}") from None
    return [env._PurgatoryInstall(directory.File(node.name), node)[0]
            for node in env.Flatten([sources])]


def _build_info_node(env, target, relocatable, outputs, inputs,
                     linker_script=None, **overrides):
    """The build record of ``relocatable`` and ``outputs``; ``inputs`` are
    the sources (their headers are found by scanning)."""
    script = _linker_script(env, linker_script, overrides)
    inputs = [*inputs, *([script] if script is not None else [])]
    nodes = env._PurgatoryBuildInfo(target, [relocatable, *outputs, *inputs],
                                    **overrides)
    _dependency_on(env, nodes, "CC")
    _dependency_on(env, nodes, "LD")
    return nodes


def _purgatory(env, sources=(), linker_script=None, relocatable="purgatory.ro",
               undefined_check="purgatory.chk", check="purgatory.check",
               c_array="kexec-purgatory.c", incbin="kexec-purgatory.S",
               ihex="purgatory.hex", buildinfo_file="purgatory.buildinfo",
               formats=None, objects=(), **overrides):
    """The whole pipeline; embedded outputs wait for every gate to pass.

    Gates run in order LD, CHK, CHECK: an undefined symbol is reported by
    the link, everything else the kernel's loader would refuse by the
    checker. ``formats`` (default: ``$FORMATS``) picks the embedded forms,
    each written to the name given for it.  ``objects`` are already built
    (e.g. by PurgatoryObject calls with flags of their own, as a kernel
    tree's objects have); they are linked after those compiled from
    ``sources``, in the order given.
    """
    if formats is not None:
        overrides["FORMATS"] = formats
    try:
        formats = _validate_names(env, overrides)
    except UserError as e:
        raise SCons.Errors.StopError(str(e)) from None
    prebuilt = env.Flatten(list(objects))
    objects = [*(env.PurgatoryObject(source=s, **overrides)[0]
                 for s in sources), *prebuilt]
    ro = env.PurgatoryRelocatable(relocatable, objects,
                                  linker_script=linker_script, **overrides)
    writers = {
        "c": (env.PurgatoryCArray, c_array),
        "S": (env.PurgatoryIncbin, incbin),
        "ihex": (env.PurgatoryIhex, ihex),
    }
    outputs = []
    for form in formats:
        builder, name = writers[form]
        outputs += builder(name, ro, **overrides)
    chk = env.PurgatoryUndefinedCheck(
        undefined_check, ro, PURGATORY_GATED=outputs)
    checked = env.PurgatoryCheck(check, ro, PURGATORY_GATED=outputs)
    env.Depends(checked, chk)
    env.Depends(outputs, [chk, checked])
    inputs = [*sources, *(s for o in prebuilt for s in o.sources)]
    # The record lists each object's compile command, read when the record
    # is written: SCons must keep the objects' commands until then.
    for obj in objects:
        obj.attributes.keep_targetinfo = 1
    info = env.PurgatoryBuildInfo(buildinfo_file, ro[0], outputs, inputs,
                                  linker_script=linker_script,
                                  PURGATORY_RECORD_OBJECTS=objects, **overrides)
    env.Depends(info, objects)
    return PurgatoryNodes(objects, ro[0], chk[0], checked[0], list(outputs),
                          info[0])


# Variables of a build that do not change its outputs, so are not passed on.
_NOT_FOR_REPRO = {"O", "V", "CACHEDIR", "PREFIX", "DESTDIR"}


def _verify_reproducible(env, alias="verify-reproducible"):
    """An alias running ``kexec-purgatory repro`` on this tree with the
    build's own variables; it fails when the builds differ."""
    sets = [f"--set={name}={value}"
            for name, value in sorted(SCons.Script.ARGUMENTS.items())
            if name not in _NOT_FOR_REPRO]
    package_parent = os.path.dirname(os.path.dirname(embed.__file__))
    command = [sys.executable, "-m", "kexec_purgatory", "repro",
               env.Dir("#").abspath, *sets]

    def repro(target, source, env):
        path = os.pathsep.join(p for p in (package_parent,
                                           os.environ.get("PYTHONPATH")) if p)
        return subprocess.call(command, env={**os.environ, "PYTHONPATH": path})
    node = env.Alias(alias, [], SCons.Action.Action(
        repro, "kexec-purgatory repro " + " ".join(command[4:])))
    env.AlwaysBuild(node)
    return node


def _add_help(variables, env):
    global _help_given
    if not _help_given:
        _help_given = True
        # env.Help, not the global Help(): the global one creates SCons'
        # default environment, which probes for every known tool (gcc -v
        # included) and costs about a third of a null build. "$$": Help
        # substitutes, and the defaults should read as written. No
        # append=True: on the first call that would put SCons' own option
        # list (scons -H) in front of the project's help.
        env.Help(variables.GenerateHelpText(env).replace("$", "$$"))


def generate(env, **defaults):
    variables = _scons_variables(defaults)
    try:
        variables.Update(env)
    except SCons.Errors.UserError as e:
        # One line naming the variable, not SCons' message and the place in
        # this file that called it.
        raise SCons.Errors.StopError(" ".join(str(e).split())) from None
    _add_help(variables, env)
    env["PURGATORY_VARIABLE_NAMES"] = sorted(NAMES)
    if env["CACHEDIR"]:
        try:
            check_output_dir(env.Dir("#").abspath, env.subst("$CACHEDIR"),
                             "CACHEDIR",
                             not SCons.Script.GetOption("cache_readonly"))
        except UserError as e:
            raise SCons.Errors.StopError(str(e)) from None
        env.CacheDir(env.subst("$CACHEDIR"))
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
        PURGATORY_FORCED_INCLUDES=[], _PURGATORY_FORCED_INCLUDE_FLAGS=[],
        PURGATORY_INCBIN_PATH="",
    )
    env["PURGATORY_SOURCE_DATE_EPOCH"] = env["ENV"].get("SOURCE_DATE_EPOCH", "")
    # Unlike SCons' own _CPPINCFLAGS, the include path is part of the
    # command's signature: changing it rebuilds.
    env["_PURGATORY_INCFLAGS"] = ("${_concat(INCPREFIX, CPPPATH, INCSUFFIX, "
                                  "__env__, RDirs, TARGET, SOURCE)}")
    # The path maps are left out of the signature ($( $)): they only undo
    # the build path, so a CacheDir serves builds in any directory.
    env["PURGATORY_CCCOM"] = ("$CC -o $TARGET -c $PURGATORY_CFLAGS "
                              "$_CPPDEFFLAGS $_PURGATORY_INCFLAGS "
                              "$_PURGATORY_FORCED_INCLUDE_FLAGS "
                              "$( $PURGATORY_PREFIX_MAP $) $SOURCE")
    env["PURGATORY_ASCOM"] = ("$CC -o $TARGET -c $PURGATORY_ASFLAGS "
                              "$_CPPDEFFLAGS $_PURGATORY_INCFLAGS "
                              "$_PURGATORY_FORCED_INCLUDE_FLAGS "
                              "$( $PURGATORY_PREFIX_MAP $) $SOURCE")
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
    for step in _RO_STEPS:
        _add_ro_step(env, *step)
    env["BUILDERS"]["_PurgatoryInstall"] = SCons.Builder.Builder(
        action=SCons.Action.Action(_install, "$PURGATORY_INSTALLCOMSTR",
                                   varlist=["PURGATORY_SOURCE_DATE_EPOCH"]),
        single_source=True)
    env["BUILDERS"]["_PurgatoryBuildInfo"] = SCons.Builder.Builder(
        action=SCons.Action.Action(
            _build_info, "$PURGATORY_INFOCOMSTR",
            varlist=["CC", "LD", "CODE_MODEL", "PURGATORY_CFLAGS",
                     "PURGATORY_TEST_DEBUG",
                     "PURGATORY_ASFLAGS", "PURGATORY_LDFLAGS",
                     "PURGATORY_LDSCRIPT_FLAGS", "_CPPDEFFLAGS",
                     "_PURGATORY_INCFLAGS"]),
        suffix=".buildinfo",
        source_scanner=SCons.Scanner.Scanner(
            function=_scan_source_headers,
            path_function=SCons.Scanner.FindPathDirs("CPPPATH"),
            recursive=True))
    env.AddMethod(_object, "PurgatoryObject")
    env.AddMethod(_install_method, "PurgatoryInstall")
    env.AddMethod(_build_info_node, "PurgatoryBuildInfo")
    env.AddMethod(_verify_reproducible, "PurgatoryVerifyReproducible")
    env.AddMethod(_relocatable, "PurgatoryRelocatable")
    env.AddMethod(_purgatory, "Purgatory")


def exists(env):
    return bool(env.WhereIs(env.subst("${CROSS_COMPILE}gcc")))
