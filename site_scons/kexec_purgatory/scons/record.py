# SPDX-License-Identifier: GPL-2.0-only
"""The SCons side of the build record: what SCons knows (nodes, their
commands, the headers its scanner found) handed to
``kexec_purgatory.build.record``, which writes the record."""

import os
import shlex

import SCons.Action
import SCons.Builder
import SCons.Node.FS
import SCons.Scanner
import SCons.Scanner.C

from ..build import flags
from ..build import record as buildinfo
from ..files import write_atomically

# The flags a build record lists (the path maps as placeholders).
_RECORDED_FLAGS = {
    "c": "$PURGATORY_CFLAGS $_CPPDEFFLAGS $_PURGATORY_INCFLAGS",
    "asm": "$PURGATORY_ASFLAGS $_CPPDEFFLAGS $_PURGATORY_INCFLAGS",
    "ld": "$PURGATORY_LDFLAGS $PURGATORY_LDSCRIPT_FLAGS",
}
# The path maps as the record spells them: their values are the build's paths.
_PATH_MAPS = flags.prefix_map_flags(buildinfo.TREE_PLACEHOLDER,
                                    buildinfo.OUTPUT_PLACEHOLDER)


def _inputs(env, tree, source, target):
    """{name relative to the tree: path} of the sources and the headers the
    scanner found, generated files left out."""
    inputs = {}
    for node in [*source[1:], *(target[0].implicit or [])]:
        if node.has_builder() or not isinstance(node, SCons.Node.FS.File):
            continue
        path = node.srcnode().abspath
        if path.startswith(os.path.join(tree, "")):
            inputs[os.path.relpath(path, tree)] = path
    return dict(sorted(inputs.items()))


def _compiled(env, objects, tree, out_dir, others):
    """Each object's compile command, path-free as the record's other
    flags, and whether every object used the tree-wide flags (a kernel
    tree's have their own). Paths are spelled from the top directory, as
    the commands run."""
    fs = env.fs
    here = fs.getcwd()
    fs.chdir(fs.Top, change_os_dir=False)
    relative_out = os.path.relpath(out_dir, fs.Top.abspath)
    try:
        commands, uniform = {}, True
        for obj in objects:
            build_env = obj.get_executor().get_build_env()
            assembly = str(obj.sources[0]).endswith(".S")
            maps = _PATH_MAPS if build_env.subst_list(
                "$PURGATORY_PREFIX_MAP")[0] else []
            command = build_env.Override({"PURGATORY_PREFIX_MAP": maps}).subst(
                "$PURGATORY_ASCOM" if assembly else "$PURGATORY_CCCOM",
                target=[obj], source=obj.sources)
            commands[os.path.relpath(obj.abspath, out_dir)] = \
                buildinfo.path_free(shlex.split(command), tree, out_dir,
                                    others, relative_out)
            own = "$PURGATORY_ASFLAGS" if assembly else "$PURGATORY_CFLAGS"
            uniform &= build_env.subst(own) == env.subst(own)
        return commands, uniform
    finally:
        fs.chdir(here, change_os_dir=False)


def _write(target, source, env):
    """source[0] is purgatory.ro, the built sources are the generated
    outputs, the rest (with the headers the scanner found) the inputs."""
    from .tool import _user_step
    tree = env.Dir(env.get("PURGATORY_SOURCE_ROOT", "#")).abspath
    out_dir = target[0].dir.abspath
    others = {env.Dir(d).abspath: name
              for d, name in env.get("PURGATORY_RECORD_PATHS", {}).items()}
    objects = env.Flatten([env.get("PURGATORY_RECORD_OBJECTS", [])])
    prefix_mapped = bool(env.subst_list("$PURGATORY_PREFIX_MAP")[0])

    def effective(kind):
        words = env.subst_list(_RECORDED_FLAGS[kind], target=target,
                               source=source)[0]
        words = buildinfo.path_free([str(w) for w in words], tree, out_dir,
                                    others)
        if kind != "ld" and prefix_mapped:
            words += _PATH_MAPS
        return words

    def step():
        given = env.get("PURGATORY_RECORD_COMMANDS")
        if given:       # a kernel tree's: its objects have flags of their own
            commands, uniform = dict(sorted(given.items())), False
        else:
            commands, uniform = _compiled(env, objects, tree, out_dir, others)
        record = buildinfo.build_record(
            relocatable=source[0].abspath,
            outputs={os.path.relpath(n.abspath, out_dir): n.abspath
                     for n in source[1:] if n.has_builder()},
            sources=_inputs(env, tree, source, target),
            cc_version=buildinfo.first_version_line(
                shlex.split(env.subst("$CC")), env["ENV"]),
            ld_version=buildinfo.first_version_line(
                shlex.split(env.subst("$LD")), env["ENV"]),
            code_model=env["CODE_MODEL"] if uniform else None,
            cflags=effective("c") if uniform else None,
            asflags=effective("asm") if uniform else None,
            ldflags=effective("ld"), commands=commands)
        write_atomically(target[0].abspath, buildinfo.dumps(record))
    return _user_step(step)


_C_SCANNER = SCons.Scanner.C.CScanner()


def _scan_source_headers(node, env, path):
    """Headers of the C and assembler inputs (not of generated outputs)."""
    if node.has_builder() or node.get_suffix() not in (".c", ".S", ".h"):
        return []
    return _C_SCANNER(node, env, path)


def add_builder(env):
    env["BUILDERS"]["_PurgatoryBuildInfo"] = SCons.Builder.Builder(
        action=SCons.Action.Action(
            _write, "$PURGATORY_INFOCOMSTR",
            varlist=["CC", "LD", "CODE_MODEL", "PURGATORY_CFLAGS",
                     "PURGATORY_ASFLAGS", "PURGATORY_LDFLAGS",
                     "PURGATORY_LDSCRIPT_FLAGS", "_CPPDEFFLAGS",
                     "_PURGATORY_INCFLAGS"]),
        suffix=".buildinfo",
        source_scanner=SCons.Scanner.Scanner(
            function=_scan_source_headers,
            path_function=SCons.Scanner.FindPathDirs("CPPPATH"),
            recursive=True))


def build_info_node(env, target, relocatable, outputs, inputs, objects,
                    **overrides):
    """The build record of ``relocatable`` and ``outputs``; ``inputs`` are
    the sources (their headers are found by scanning), ``objects`` the
    objects whose compile commands it lists."""
    from .tool import package_version
    # The record lists each object's compile command, read when the record
    # is written: SCons must keep the objects' commands until then.
    for obj in objects:
        obj.attributes.keep_targetinfo = 1
    nodes = env._PurgatoryBuildInfo(target, [relocatable, *outputs, *inputs],
                                    PURGATORY_RECORD_OBJECTS=objects,
                                    **overrides)
    env.Depends(nodes, objects)
    env.Depends(nodes, package_version(env))
    return nodes
