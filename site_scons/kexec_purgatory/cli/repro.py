# SPDX-License-Identifier: GPL-2.0-only
"""kexec-purgatory repro: build a tree several times under different
conditions, compare every output, and name the condition behind a
difference. ``scons verify-reproducible`` runs it on the tree itself."""

from ..repro import builds as reprobuild, reproduce as repro, variations
from .contract import print_json, progress

HELP = ("prove a tree builds reproducibly (exit 0), or name the varied "
        "condition and the sections that differ (exit 1)")
EXIT_STATUS = ("identical", "different (the varied condition is named)",
               "a build could not run, or a bad option")


def add_arguments(parser):
    parser.add_argument("tree", nargs="?", metavar="TREE",
                        help="the tree to build (default: the current directory)")
    parser.add_argument("--vary", metavar="LIST", default="all",
                        help="variations, comma-separated: names, 'all', and "
                             "'-name' to leave one out (default: all)")
    parser.add_argument("--runs", type=int, default=2, metavar="N",
                        help="number of builds, at least 2 (default: 2)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the builds' copies and print where")
    parser.add_argument("--record", default=reprobuild.BUILDINFO, metavar="PATH",
                        help="the build record each build writes, relative "
                             "to its output directory O (default: "
                             "%(default)s; `scons verify-reproducible` "
                             "passes the tree's own)")
    parser.add_argument("--set", action="append", default=[], metavar="VAR=VALUE",
                        dest="scons_variables",
                        help="a scons variable for every build (repeatable)")
    parser.epilog = (
        "Variations: " + "; ".join(f"{name}: {summary}" for name, (_, summary)
                                   in variations.VARIATIONS.items())
        + ". Each build's start and end is a line on stderr.")


def _read_trees(assignments):
    """The kernel trees a kernel-mode build reads (KERNEL=, KERNEL_O=):
    the other user a variation builds as must be able to read them."""
    return [value for name, _, value in (a.partition("=") for a in assignments)
            if name in ("KERNEL", "KERNEL_O") and value]


def run(args):
    from ..errors import UserError
    if args.runs < 2:
        raise UserError("--runs: at least 2 builds are needed to compare")
    for assignment in args.scons_variables:
        name = assignment.split("=", 1)[0]
        if "=" not in assignment or not name:
            raise UserError(f"--set: {assignment!r} is not VAR=VALUE")
        if name in reprobuild.SET_BY_REPRO:
            raise UserError(f"--set: {name} is chosen by repro itself "
                            "(the output_dir and cache variations)")
    record = reprobuild.record_path(args.record)
    tree = repro.find_tree(args.tree)
    chosen = repro.parse_vary(args.vary)
    with repro.workspace(args.keep) as workspace:
        plan = repro.Plan(source=tree, names=reprobuild.tree_files(tree),
                          chosen=chosen, tools=variations.probe_tools(_read_trees(args.scons_variables)),
                          workspace=workspace,
                          scons_variables=tuple(args.scons_variables),
                          record=record,
                          keep_dir=workspace / "kept" if args.keep else None,
                          progress=lambda text: progress("repro", text))
        report = repro.reproduce(plan, args.runs)
        if args.keep:
            report["kept"] = str(workspace / "kept")
    status = repro.exit_status(report)
    if args.json:
        return print_json(report, status)
    print("\n".join(repro.format_report(report)))
    if args.keep:
        print(f"builds kept in {report['kept']}")
    return status
