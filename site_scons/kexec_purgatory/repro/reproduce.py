# SPDX-License-Identifier: GPL-2.0-only
"""Proving a tree builds reproducibly, and explaining it when it does not.

Build 0 is the reference (every variation at level 0); builds 1..N-1 vary
every chosen condition at once (at level 1, 2, ...). When a build differs,
the cause is narrowed down by rebuilding with one variation at a time (and
once with none, which shows a build that differs from itself), and the
differing purgatory.ro is compared section by section.
"""

import concurrent.futures
import contextlib
import dataclasses
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from ..elf import diff as elfdiff
from ..formats import c_array, incbin
from . import builds as reprobuild, variations
from ..build import record as buildinfo
from ..digests import sha256_hex as sha256
from ..errors import UserError

PARALLEL_BUILDS = 2
CONTROL = "none"                        # the narrowing build that varies nothing


@dataclasses.dataclass
class Plan:
    source: Path
    names: list
    chosen: list                        # variation names, in VARIATIONS order
    tools: variations.Tools
    workspace: Path
    scons_variables: tuple = ()
    keep_dir: Path = None
    record: str = reprobuild.BUILDINFO   # the build record, relative to O
    # Told a line as each build starts and ends: a build takes seconds,
    # and a whole check with narrowing a minute or more.
    progress: object = None


def parse_vary(text):
    """The variations named by ``--vary``: "all", "a,b", or "all,-a,-b"."""
    known = list(variations.VARIATIONS)
    chosen = []
    for word in (w.strip() for w in (text or "all").split(",")):
        if not word:
            continue
        name = word.lstrip("-")
        if name == "all":
            group = known
        elif name in known:
            group = [name]
        else:
            raise UserError(f"--vary: unknown variation {name!r} "
                            f"(known: {', '.join(known)}, all)")
        if word.startswith("-"):
            chosen = [n for n in chosen if n not in group]
        else:
            chosen += [n for n in group if n not in chosen]
    if not chosen:
        raise UserError("--vary: no variation left to vary")
    return [n for n in known if n in chosen]


def _setup(plan, label, levels):
    setup = reprobuild.BuildSetup(label=label, workspace=plan.workspace,
                                  scons_variables=tuple(plan.scons_variables),
                                  record=plan.record)
    setup.env = {k: v for k, v in os.environ.items()
                 if k not in reprobuild.CONTROLLED_ENVIRONMENT
                 and not k.startswith("LC_")}
    conditions = variations.conditions(levels, plan.tools, plan.workspace)
    return reprobuild.apply(setup, conditions.values())


class _PathLocks:
    """Builds that use the same directories run one after the other."""

    def __init__(self):
        self._guard = threading.Lock()
        self._locks = {}

    @contextlib.contextmanager
    def holding(self, paths):
        with self._guard:
            locks = [self._locks.setdefault(p, threading.Lock()) for p in paths]
        with contextlib.ExitStack() as stack:
            for lock in locks:
                stack.enter_context(lock)
            yield


def run_builds(plan, requests):
    """Run builds [(label, levels)]; {label: BuildResult}, or UserError
    (exit status 2) for the first that could not build."""
    locks = _PathLocks()
    tell = plan.progress or (lambda text: None)

    def one(label, levels):
        setup = _setup(plan, label, levels)
        with locks.holding(setup.paths()):
            tell(f"building {label}")
            started = time.monotonic()
            result = reprobuild.run_build(plan.source, plan.names, setup,
                                          plan.keep_dir)
            tell(f"built {label} in {time.monotonic() - started:.1f} s")
            return result
    with concurrent.futures.ThreadPoolExecutor(PARALLEL_BUILDS) as pool:
        futures = {label: pool.submit(one, label, levels)
                   for label, levels in requests}
        return {label: future.result() for label, future in futures.items()}


def differing_files(reference, other):
    names = list(dict.fromkeys([*reference.files, *other.files]))
    return [n for n in names if reference.files.get(n) != other.files.get(n)]


def _holds_own_relocatable(result, name):
    """Whether an embedded output holds exactly its build's purgatory.ro:
    a C array by its bytes, an .incbin file by what it includes and the
    digest its header records."""
    relocatable = result.files.get(reprobuild.RELOCATABLE)
    try:
        text = result.files[name].decode()
        if name.endswith(".c"):
            return c_array.read_c_array(text, name)[1] == relocatable
    except (UserError, UnicodeDecodeError):
        return False
    if name.endswith(".S") and relocatable is not None:
        return (incbin.includes(text, reprobuild.RELOCATABLE)
                and f" * {sha256(relocatable)}\n" in text)
    return False


def explain(reference, other, names):
    """{file: what differs} for the files ``names`` of two builds."""
    details = {}
    for name in names:
        a, b = reference.files.get(name), other.files.get(name)
        if a is None or b is None:
            details[name] = "missing in one build"
        elif name == reprobuild.RELOCATABLE:
            report = elfdiff.compare_elf(a, b, "reference", other.setup.label)
            sections = elfdiff.differing_sections(report)
            details[name] = ("sections " + ", ".join(sections) if sections
                             else "bytes outside the sections")
        elif name == reprobuild.BUILDINFO:
            try:
                ra, rb = (buildinfo.parse(d, name) for d in (a, b))
                keys = sorted(k for k in {*ra, *rb} if ra.get(k) != rb.get(k))
                details[name] = "fields " + ", ".join(keys)
            except UserError:
                details[name] = "not a build record"
        elif _holds_own_relocatable(reference, name) and \
                _holds_own_relocatable(other, name):
            details[name] = "holds each build's own purgatory.ro"
        else:
            details[name] = (f"first difference at byte "
                             f"{elfdiff.first_difference(a, b)}")
    return details


def reproduce(plan, runs):
    """The whole check; returns the report (a dict, JSON-ready)."""
    all_levels = [{name: k for name in plan.chosen} for k in range(runs)]
    labels = ["reference"] + [f"varied-{k}" for k in range(1, runs)]
    descriptions = {label: variations.descriptions(levels, plan.tools, plan.workspace)
                    for label, levels in zip(labels, all_levels)}
    report = {
        "tree": str(plan.source), "runs": runs, "variations": plan.chosen,
        "reference": variations.reference_descriptions(plan.tools, plan.workspace),
        "builds": descriptions, "scons_variables": list(plan.scons_variables),
    }
    results = run_builds(plan, list(zip(labels, all_levels)))
    reference = results["reference"]
    report["cache_retrieved"] = {label: r.retrieved_from_cache
                                 for label, r in results.items() if r.setup.cache}
    report["files"] = {name: sha256(data) for name, data in reference.files.items()}
    differences = {label: differing_files(reference, r)
                   for label, r in results.items() if label != "reference"}
    differing = {label: names for label, names in differences.items() if names}
    report["identical"] = not differing
    report["differences"] = {label: explain(reference, results[label], names)
                             for label, names in differing.items()}
    if differing:
        first = next(iter(differing))
        report["narrowed"] = narrow(plan, reference, labels.index(first))
        report["causes"] = [name for name, found in report["narrowed"].items()
                            if found["differs"] and name != CONTROL]
    return report


def narrow(plan, reference, level):
    """Rebuild with each chosen variation alone at ``level`` (and with
    none); {variation: {"differs": bool, "files": {file: what}}}."""
    requests = [(CONTROL, {})] + [(f"only-{name}", {name: level})
                                  for name in plan.chosen]
    results = run_builds(plan, requests)
    narrowed = {}
    for label, result in results.items():
        names = differing_files(reference, result)
        narrowed[label.removeprefix("only-")] = {
            "differs": bool(names), "files": explain(reference, result, names)}
    return narrowed


def format_report(report):
    lines = [f"repro: {report['runs']} builds of {report['tree']}"
             + (f" with {' '.join(report['scons_variables'])}"
                if report["scons_variables"] else "")]
    width = max(len(label) for label in report["builds"]) + 1
    for name, reference in report["reference"].items():
        varied = [(label, described[name])
                  for label, described in report["builds"].items()
                  if name in described]
        if not varied:
            continue
        lines.append(f"  {name:<11} {'reference:':<{width}} {reference}")
        lines += [f"  {'':<11} {label + ':':<{width}} {text}" for label, text in varied]
    for label, count in report["cache_retrieved"].items():
        lines.append(f"  {label}: {count} files retrieved from the CacheDir")
    if report["identical"]:
        lines.append(f"reproducible: all {report['runs']} builds gave the same files")
        lines += [f"  {sha}  {name}" for name, sha in report["files"].items()]
        return lines
    for label, details in report["differences"].items():
        lines.append(f"NOT reproducible: {label} differs from the reference")
        lines += [f"  {name}: {what}" for name, what in details.items()]
    lines.append("narrowing: one variation at a time")
    for name, found in report["narrowed"].items():
        what = "; ".join(f"{f}: {w}" for f, w in found["files"].items())
        label = "(nothing varied)" if name == CONTROL else name
        lines.append(f"  {label:<16} {'DIFFERS  ' + what if found['differs'] else 'same'}")
    if report["narrowed"][CONTROL]["differs"]:
        lines.append("cause: the build differs from itself with nothing varied "
                     "(randomness, or the clock without SOURCE_DATE_EPOCH)")
    elif report["causes"]:
        lines.append(f"cause: {', '.join(report['causes'])}")
    else:
        lines.append("cause: no single variation; only their combination differs")
    return lines


@contextlib.contextmanager
def workspace(keep):
    """A temporary directory every build's user can enter; kept with --keep."""
    path = Path(tempfile.mkdtemp(prefix="kexec-purgatory-repro-"))
    try:
        os.chmod(path, 0o755)
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def find_tree(path):
    tree = Path(path or ".").resolve()
    if not (tree / "SConstruct").is_file():
        raise UserError(f"{tree}: no SConstruct (give the tree to build)")
    return tree


def exit_status(report):
    return 0 if report["identical"] else 1
