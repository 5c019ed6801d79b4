# SPDX-License-Identifier: GPL-2.0-only
"""kexec-purgatory repro: builds of this tree under varied conditions are
identical, and a non-reproducible tree is caught and explained."""

import json
import os
import pwd
import sys

import pytest

from conftest import kexec_purgatory_cli, run_scons
from kexec_purgatory.repro import builds as reprobuild, reproduce as repro, variations
from kexec_purgatory.errors import UserError


def test_repro_of_this_tree_with_all_variations_exits_0_and_prints_the_common_sha256(tree):
    result = kexec_purgatory_cli("repro", tree, "--vary", "all")
    assert result.returncode == 0, result.stdout + result.stderr
    run_scons(tree)
    digest = repro.sha256((tree / "build" / "purgatory.ro").read_bytes())
    assert f"{digest}  purgatory.ro" in result.stdout
    assert "reproducible: all 2 builds gave the same files" in result.stdout
    for name in variations.VARIATIONS:       # each one was really varied
        assert f"\n  {name:<11} reference:" in result.stdout, name


def narrowed(result):
    assert result.returncode == 1, result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_a_source_using_date_and_time_is_caught_in_rodata_and_blamed_on_time(tree):
    source = tree / "purgatory" / "purgatory.c"
    source.write_text(source.read_text() + "\nconst char purgatory_built[] = "
                      "__DATE__ \" \" __TIME__;\n")
    report = narrowed(kexec_purgatory_cli("repro", tree, "--json"))
    assert report["causes"] == ["time"]
    assert report["narrowed"]["time"]["files"] == {
        "purgatory.ro": "sections .rodata",
        "purgatory.buildinfo": "fields outputs, purgatory.ro",
        "kexec-purgatory.c": "holds each build's own purgatory.ro",
        "kexec-purgatory.S": "holds each build's own purgatory.ro"}
    text = repro.format_report(report)
    assert "cause: time" in text
    assert any(line.startswith("  time ") and "DIFFERS" in line and ".rodata" in line
               for line in text)


@pytest.mark.slow
def test_a_debug_info_build_without_path_map_is_blamed_on_build_path(tree):
    report = narrowed(kexec_purgatory_cli("repro", tree, "--json",
                              "--set", "PURGATORY_TEST_DEBUG=1"))
    assert report["causes"] == ["build_path"]
    found = report["narrowed"]["build_path"]["files"]["purgatory.ro"]
    assert ".debug_line_str" in found or ".debug_str" in found
    assert not report["narrowed"][repro.CONTROL]["differs"]


def test_a_tree_that_does_not_build_exits_2_naming_the_build(tree):
    (tree / "purgatory" / "string.c").write_text("this is not C\n")
    result = kexec_purgatory_cli("repro", tree, "--vary", "jobs")
    assert result.returncode == 2
    assert "build reference failed" in result.stderr
    # Each build is announced on stderr as it starts: they take seconds.
    assert "kexec-purgatory repro: building reference\n" in result.stderr


@pytest.mark.parametrize("assignment", ["O=out", "CACHEDIR=/tmp/c", "novalue", "=x"])
def test_set_refuses_what_repro_chooses_itself_and_malformed_assignments(tree, assignment):
    result = kexec_purgatory_cli("repro", tree, "--set", assignment)
    assert result.returncode == 2
    assert "--set:" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("text, chosen", [
    ("all", list(variations.VARIATIONS)),
    ("time,jobs", ["time", "jobs"]),
    ("jobs,time", ["time", "jobs"]),
    ("all,-cache,-user", [n for n in variations.VARIATIONS if n not in ("cache", "user")]),
])
def test_vary_chooses_and_excludes_variations_by_name(text, chosen):
    assert repro.parse_vary(text) == chosen


@pytest.mark.parametrize("text", ["nope", "-all", "time,-time"])
def test_vary_refuses_unknown_names_and_empty_choices(text):
    with pytest.raises(UserError, match="--vary"):
        repro.parse_vary(text)


def test_scons_verify_reproducible_runs_repro_with_the_builds_variables(tree):
    result = run_scons(tree, "verify-reproducible", "CODE_MODEL=large", "V=1")
    assert "--set=CODE_MODEL=large" in result.stdout
    assert "reproducible: all 2 builds gave the same files" in result.stdout


NO_TOOLS = variations.Tools(faketime=False, disorderfs=False,
                           uts_namespace=False, other_user=None)
NOBODY = pwd.getpwnam("nobody")
ALL_TOOLS = variations.Tools(faketime=True, disorderfs=True, uts_namespace=True,
                             other_user=(NOBODY.pw_uid, NOBODY.pw_gid))


def test_without_tools_or_privileges_variations_say_they_are_emulated(tmp_path):
    levels = {name: 1 for name in variations.VARIATIONS}
    described = variations.descriptions(levels, NO_TOOLS, tmp_path)
    setup = reprobuild.apply(reprobuild.BuildSetup(label="x", workspace=tmp_path, env={}),
                             variations.conditions(levels, NO_TOOLS, tmp_path).values())
    for name in ("time", "user", "hostname", "fs_order"):
        assert "emulated" in described[name], name
    assert setup.hostname is None and setup.user is None
    assert setup.disorder is None and setup.faketime is None
    assert setup.env["HOSTNAME"] == "repro-host-1"
    assert setup.env["USER"] == setup.env["LOGNAME"] == "repro-user-1"
    assert "SOURCE_DATE_EPOCH" not in setup.env and setup.copy_order == "reversed"


def listing(path):
    return sorted((str(p.relative_to(path)), p.stat().st_mode, p.stat().st_uid)
                  for p in path.rglob("*"))


@pytest.mark.parametrize("tools", [NO_TOOLS, ALL_TOOLS], ids=["no-tools", "all-tools"])
def test_describing_every_variation_at_every_level_writes_nothing_and_is_deterministic(
        tmp_path, tools):
    (tmp_path / "already-there").write_text("x")
    before = listing(tmp_path)
    for name, (describe, _) in variations.VARIATIONS.items():
        for level in range(4):
            condition = describe(level, tools, tmp_path)
            assert condition == describe(level, tools, tmp_path), (name, level)
            assert condition.text, (name, level)
    levels = {name: 2 for name in variations.VARIATIONS}
    assert variations.descriptions(levels, tools, tmp_path) == \
        variations.descriptions(levels, tools, tmp_path)
    assert variations.reference_descriptions(tools, tmp_path) == \
        variations.reference_descriptions(tools, tmp_path)
    assert listing(tmp_path) == before


def test_each_variation_sets_the_same_setup_fields_at_every_level(tmp_path):
    """So that a build at one level never keeps a field another level set."""
    for tools in (NO_TOOLS, ALL_TOOLS):
        for name, (describe, _) in variations.VARIATIONS.items():
            owned = {tuple(dict(describe(level, tools, tmp_path).fields))
                     for level in range(4)}
            assert len(owned) == 1, (name, owned)


@pytest.mark.parametrize("tools, faketime", [(ALL_TOOLS, "+400d"), (NO_TOOLS, None)])
def test_applying_time_at_level_1_unsets_the_epoch_dates_the_sources_and_moves_the_clock(
        tmp_path, tools, faketime):
    setup = reprobuild.BuildSetup(label="x", workspace=tmp_path,
                                  env={"SOURCE_DATE_EPOCH": "5", "KEEP": "1"})
    applied = reprobuild.apply(setup, [variations.time(1, tools, tmp_path)])
    assert applied.env == {"KEEP": "1"}
    assert applied.mtime == 1000000000 + 12345678 and applied.faketime == faketime
    assert setup.env["SOURCE_DATE_EPOCH"] == "5" and setup.mtime is None


def test_applying_the_reference_conditions_gives_the_reference_setup(tmp_path):
    setup = reprobuild.BuildSetup(label="x", workspace=tmp_path,
                                  env={"LC_TIME": "fr_FR", "LANGUAGE": "de", "KEEP": "1"})
    applied = reprobuild.apply(setup, variations.conditions({}, ALL_TOOLS, tmp_path).values())
    assert applied.tree == tmp_path / "p0" / "tree" and applied.output_dir == "build"
    assert {k: applied.env[k] for k in ("SOURCE_DATE_EPOCH", "TZ", "LC_ALL", "LANG")} == {
        "SOURCE_DATE_EPOCH": "1700000000", "TZ": "UTC0", "LC_ALL": "C", "LANG": "C"}
    assert "LC_TIME" not in applied.env and "LANGUAGE" not in applied.env
    assert applied.env["KEEP"] == "1"
    assert applied.mtime == variations.REFERENCE_EPOCH and applied.faketime is None
    assert (applied.umask, applied.jobs, applied.copy_order) == (0o022, 1, "sorted")
    assert applied.user is applied.hostname is applied.disorder is None
    assert not applied.cache and applied.directories == ()


def test_a_varied_user_home_is_made_when_the_build_is_prepared_owned_by_its_user(tmp_path):
    tools = ALL_TOOLS if os.geteuid() == 0 else NO_TOOLS
    source = tmp_path / "source"
    source.mkdir()
    (source / "SConstruct").write_text("")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    conditions = variations.conditions({"user": 1}, tools, workspace)
    setup = reprobuild.apply(reprobuild.BuildSetup(label="x", workspace=workspace, env={}),
                             conditions.values())
    home = workspace / "home-1"
    assert setup.env["HOME"] == str(home) and setup.directories == (home,)
    assert setup.user == tools.other_user
    assert not home.exists()
    reprobuild.prepare(source, ["SConstruct"], setup)
    assert home.is_dir() and (setup.tree / "SConstruct").is_file()
    assert home.stat().st_uid == (tools.other_user or (os.getuid(),))[0]


def test_the_user_variation_names_why_nobody_cannot_build(tmp_path, monkeypatch):
    """A 0700 directory on the way (a virtual environment in a private home,
    a kernel tree) is named, not "needs root and setpriv"."""
    locked = tmp_path / "private"
    locked.mkdir(mode=0o700)
    # This Python's environment is looked at first: keep it out of the way
    # (a clone in a 0700 directory would be named before ``locked``).
    monkeypatch.setattr(sys, "prefix", "/usr")
    if os.geteuid() != 0:
        found = variations._other_user([str(locked)])
        assert found == {"other_user": None,
                         "no_other_user": "switching users needs root"}
        return
    found = variations._other_user([str(locked)])
    assert found == {"other_user": None,
                     "no_other_user": f"nobody cannot read {locked}"}
    monkeypatch.setattr(sys, "prefix", str(locked / "venv"))
    assert variations._other_user()["no_other_user"] == \
        f"nobody cannot read {locked / 'venv'}"
    tools = variations.Tools(faketime=False, disorderfs=False, uts_namespace=False,
                             **variations._other_user([str(locked)]))
    described = variations.descriptions({"user": 1}, tools, tmp_path)["user"]
    assert f"emulated: nobody cannot read {locked}" in described
    assert "setpriv" not in described
