# SPDX-License-Identifier: GPL-2.0-only
"""One build of a tree in a fresh copy, under chosen conditions.

A ``BuildSetup`` says how a build runs (where the tree lives, the
environment, the umask, the user, ...); ``apply`` makes it from the
``Condition``s that ``variations`` describe, as plain data, so describing a
build touches nothing. ``run_build`` prepares the copy and what the
conditions need on disk, runs scons and returns the files produced.
Everything happens under one workspace directory that ``repro`` removes.
"""

import dataclasses
import fnmatch
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

from ..build import record as buildinfo
from ..errors import UserError

BUILDINFO = "purgatory.buildinfo"
RELOCATABLE = "purgatory.ro"

# Never copied: version control, SCons' database, Python caches, build output.
IGNORED_NAMES = {".git", ".hg", ".svn", "__pycache__", ".pytest_cache", ".hypothesis",
                 ".venv", "venv", "build", ".sconsign.dblite"}
IGNORED_SUFFIXES = (".pyc", ".egg-info")

# Variables the caller's environment may hold that would change the build
# behind the variations' backs: the variations set them explicitly.
CONTROLLED_ENVIRONMENT = ("SOURCE_DATE_EPOCH", "TZ", "LANG", "LANGUAGE",
                          "HOSTNAME", "USER", "LOGNAME", "HOME", "SCONSFLAGS")

# scons variables each build sets itself.
SET_BY_REPRO = ("O", "CACHEDIR")

SCONS_TIMEOUT = 600


@dataclasses.dataclass
class BuildSetup:
    """How one build runs; ``apply`` sets the fields from conditions."""
    label: str
    workspace: Path
    tree: Path = None                 # where the build sees the tree
    output_dir: str = "build"         # the O= value
    env: dict = None
    umask: int = 0o022
    jobs: int = 1
    copy_order: str = "sorted"        # sorted | reversed | shuffled
    disorder: str = None              # None | "reverse" | "shuffle" (disorderfs)
    mtime: int = None                 # mtime given to every copied file
    user: tuple = None                # (uid, gid) to build as
    hostname: str = None              # set in a new UTS namespace
    faketime: str = None              # faketime offset, e.g. "+400d"
    cache: bool = False               # populate a CacheDir, then build from it
    scons_variables: tuple = ()
    record: str = BUILDINFO           # the build record, relative to O
    directories: tuple = ()           # made before the build (a HOME)

    @property
    def output_path(self):
        return Path(os.path.normpath(self.tree / self.output_dir))

    @property
    def cache_path(self):
        return self.workspace / "cache" / self.label

    @property
    def real_tree(self):
        """Where the copy's files really are (not the disorderfs view)."""
        if self.disorder:
            return self.workspace / "disorderfs-real" / self.label
        return self.tree

    def paths(self):
        """Directories this build writes; builds sharing one run in turn."""
        return sorted({str(self.tree), str(self.output_path)})


@dataclasses.dataclass(frozen=True)
class Condition:
    """One variation at one level: the report's text and what a build under
    it sets. Mappings are kept as tuples of pairs, so it never changes."""
    text: str
    fields: tuple = ()                # (BuildSetup field, value) pairs
    env: tuple = ()                   # (variable, value) pairs to set
    unset: tuple = ()                 # variables or patterns ("LC_*") removed first
    directories: tuple = ()           # made for the build, owned by its user

    def __post_init__(self):
        for name in ("fields", "env"):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, tuple(value.items()))


def apply(setup, conditions):
    """The setup under ``conditions``: fields and environment set, the
    directories to make listed. Writes nothing; ``setup`` is unchanged."""
    env = dict(setup.env or {})
    fields, directories = {}, list(setup.directories)
    for condition in conditions:
        for pattern in condition.unset:
            for name in [n for n in env if fnmatch.fnmatchcase(n, pattern)]:
                del env[name]
        env.update(condition.env)
        fields.update(condition.fields)
        directories += condition.directories
    return dataclasses.replace(setup, **fields, env=env,
                               directories=tuple(directories))


@dataclasses.dataclass
class BuildResult:
    setup: BuildSetup
    files: dict                       # name under O -> bytes
    log: str
    retrieved_from_cache: int = 0


def _ignored(name):
    return any(part in IGNORED_NAMES or part.endswith(IGNORED_SUFFIXES)
               for part in Path(name).parts)


def tree_files(tree):
    """The tree's files to copy, relative and sorted: git's list when the
    tree is a git checkout (tracked and untracked, not ignored), otherwise
    every file; never the ignored names (an old build must not come along)."""
    tree = Path(tree)
    if (tree / ".git").exists() and shutil.which("git"):
        result = subprocess.run(
            ["git", "-C", str(tree), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"], capture_output=True)
        if result.returncode == 0:
            names = {n for n in result.stdout.decode().split("\0") if n}
            return sorted(n for n in names if not _ignored(n)
                          and os.path.lexists(tree / n))
    files = []
    for root, dirs, names in os.walk(tree):
        dirs[:] = [d for d in dirs if not _ignored(d)]
        rel = os.path.relpath(root, tree)
        files += [os.path.normpath(os.path.join(rel, n)) for n in names
                  if not _ignored(n)]
    return sorted(files)


def _ordered(names, order, label):
    if order == "reversed":
        return list(reversed(names))
    if order == "shuffled":
        shuffled = list(names)
        random.Random(label).shuffle(shuffled)
        return shuffled
    return list(names)


def copy_tree(source, names, setup):
    """Copy ``names`` from ``source`` in the setup's creation order,
    setting the mtime and owner the setup asks for."""
    dest = setup.real_tree
    made = set()
    for name in _ordered(names, setup.copy_order, setup.label):
        target = dest / name
        parent = target.parent
        if parent not in made:
            parent.mkdir(parents=True, exist_ok=True)
            made.add(parent)
        src = Path(source) / name
        if src.is_symlink():
            os.symlink(os.readlink(src), target)
        else:
            shutil.copyfile(src, target)
            shutil.copymode(src, target)
    for path in [dest, *dest.rglob("*")]:
        if setup.mtime is not None and not path.is_symlink():
            os.utime(path, (setup.mtime, setup.mtime))
        if setup.user is not None:
            os.lchown(path, *setup.user)


def _remove(path):
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def _make_dir_for(setup, path):
    """Create ``path`` and its parents inside the workspace, owned by the
    build's user so it can write there."""
    path.mkdir(parents=True, exist_ok=True)
    if setup.user is not None:
        for p in (path, *path.parents):
            if p == setup.workspace or setup.workspace not in p.parents:
                break
            os.chown(p, *setup.user)


def as_user_command(user):
    uid, gid = user
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


def scons_command(setup, extra=()):
    """The scons command line with the setup's wrappers, outermost first."""
    # The build record's target builds purgatory.ro and every output it
    # records, and nothing else the tree's default might add (test runs).
    command = [sys.executable, "-m", "SCons", "-Q", f"-j{setup.jobs}",
               f"O={setup.output_dir}", *setup.scons_variables, *extra,
               os.path.join(setup.output_dir, setup.record)]
    if setup.user is not None:
        command = [*as_user_command(setup.user), *command]
    if setup.faketime:          # outside setpriv: it execs with root's rights
        command = ["faketime", "-f", setup.faketime, *command]
    prologue = f"umask {setup.umask:03o}"
    if setup.hostname:
        prologue += f" && hostname {setup.hostname}"
    command = ["sh", "-c", prologue + ' && exec "$@"', "sh", *command]
    if setup.hostname:
        command = ["unshare", "--uts", "--", *command]
    return command


def _run_scons(setup, extra=()):
    try:
        result = subprocess.run(scons_command(setup, extra), cwd=setup.tree,
                                env=setup.env, capture_output=True, text=True,
                                errors="replace", timeout=SCONS_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UserError(f"build {setup.label}: cannot run scons: {e}") from None
    log = result.stdout + result.stderr
    if result.returncode != 0:
        tail = "\n".join(log.strip().splitlines()[-8:])
        raise UserError(f"build {setup.label} failed (exit status "
                        f"{result.returncode}):\n{tail}")
    return log


def disorderfs_command(real, view, disorder="reverse"):
    """Mount ``real`` at ``view`` listing directories reversed or shuffled;
    root mounts it for every user (the build may run as another one)."""
    shared = ["--multi-user=yes"] if os.geteuid() == 0 else []
    return ["disorderfs", "-q", *shared, f"--{disorder}-dirents=yes",
            str(real), str(view)]


def _mount_disorderfs(setup):
    setup.tree.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(disorderfs_command(setup.real_tree, setup.tree,
                                               setup.disorder),
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"build {setup.label}: disorderfs failed: "
                        f"{result.stderr.strip()}")


def _unmount(path):
    subprocess.run(["fusermount", "-u", "-z", str(path)], capture_output=True)


def record_path(path):
    """The build record's path relative to O, as --record gives it."""
    normal = os.path.normpath(path or "")
    if not path or os.path.isabs(normal) or normal.split(os.sep)[0] == "..":
        raise UserError(f"--record: {path!r} must be a path inside the "
                        "output directory O (e.g. purgatory.buildinfo)")
    return normal


def collect(setup):
    """The files a comparison looks at: purgatory.ro (the ``.ro`` of the
    record's stem), the build record and every output the record lists,
    all in the record's directory (names relative to it, as the record
    names them). Keyed by the names a default build gives them."""
    record_file = setup.output_path / setup.record
    out = record_file.parent
    try:
        record = buildinfo.load(str(record_file))
    except UserError as e:
        raise UserError(f"build {setup.label}: {e}: is the tree built with "
                        "the purgatory tool?") from None
    names = [RELOCATABLE, BUILDINFO, *sorted(record["outputs"])]
    files = {}
    for name in names:
        path = {BUILDINFO: record_file,
                RELOCATABLE: record_file.with_suffix(".ro")}.get(name, out / name)
        try:
            files[name] = path.read_bytes()
        except OSError as e:
            raise UserError(f"build {setup.label}: {name}: {e.strerror}") from None
    return files


def prepare(source, names, setup):
    """Make what the build needs, owned by its user: the copy of the tree,
    the output directory's parent and the setup's directories."""
    for path in (setup.real_tree, setup.output_path.parent, *setup.directories):
        _make_dir_for(setup, path)
    copy_tree(source, names, setup)


def run_build(source, names, setup, keep_dir=None):
    """Copy, build (twice through a fresh CacheDir if asked), collect.

    The copy is removed afterwards, or moved under ``keep_dir``.
    """
    owned = [setup.tree, setup.output_path, setup.real_tree, setup.cache_path]
    for path in owned:
        _remove(path)
    prepare(source, names, setup)
    mounted = False
    try:
        if setup.disorder:
            _mount_disorderfs(setup)
            mounted = True
        retrieved = 0
        if setup.cache:
            _make_dir_for(setup, setup.cache_path)
            cache = [f"CACHEDIR={setup.cache_path}"]
            _run_scons(setup, cache)
            _remove(setup.output_path)
            log = _run_scons(setup, cache)
            retrieved = log.count("from cache")
        else:
            log = _run_scons(setup)
        return BuildResult(setup, collect(setup), log, retrieved)
    finally:
        if mounted:
            _unmount(setup.tree)
        if keep_dir is not None:
            kept = Path(keep_dir) / setup.label
            kept.mkdir(parents=True, exist_ok=True)
            if setup.real_tree.exists():
                shutil.move(str(setup.real_tree), str(kept / "tree"))
            if setup.tree not in setup.output_path.parents \
                    and setup.output_path.exists():
                shutil.move(str(setup.output_path), str(kept / "output"))
        for path in owned:
            _remove(path)
