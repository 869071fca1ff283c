"""The README's set-up and "What runs" claims, checked against the code: the test command CI runs, the rules
its map names, the judge as a local rule, merge identity, the HHH proxy size, the quick look's sweep."""

import re
from pathlib import Path

import yaml
from test_tables import make_run

from selgen.merge import merge_tables
from selgen.settings.em.hhh import split_hhh
from selgen.tables import build_tables

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RULES = "\n".join(p.read_text() for p in sorted((ROOT / "workflow" / "rules").glob("*.smk")))


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    return README[start : README.index("\n## ", start + 1)]


def rule_body(name: str) -> str:
    start = RULES.index(f"rule {name}:")
    end = RULES.find("\nrule ", start + 1)
    return RULES[start : end if end > 0 else None]


def test_the_readme_test_command_is_what_ci_runs():
    commands = re.findall(r"^python3 -m venv .*$", section("Set-up: two commands"), flags=re.M)
    assert len(commands) == 2, commands  # 1. the mini suite, 2. the tests
    test_command = commands[1].split("&& ", 1)[1]  # after the venv's creation
    assert test_command in (ROOT / ".ci" / "run").read_text()
    assert "snakemake --cores all" in commands[0]
    assert (ROOT / "tests" / "test_slurm.py").exists() and "tests/test_slurm.py" in section(
        "Set-up: two commands"
    )


def test_every_rule_the_map_names_exists_and_the_judge_is_local():
    what_runs = section("What runs")
    the_map = what_runs.split("```")[1]
    named = set(re.findall(r"\b(\w+)\[", the_map)) | set(re.findall(r"rule (\w+)", the_map))
    assert {
        "data",
        "base",
        "train",
        "artifact",
        "evaluate",
        "generate",
        "judge",
        "tables",
        "base_run",
    } <= named
    defined = set(re.findall(r"^rule (\w+):", RULES, flags=re.M))
    assert named <= defined, named - defined
    assert "localrule: True" in rule_body("judge")  # "judge[run], a local rule"
    assert "results/pareto_{setting}.pdf" in rule_body("pareto")


def test_merge_identity_is_the_run_config_hash(tmp_path):
    """README ("Sharing results") and docs/tables.md: a run's identity when tables merge is its
    run_config_hash, so clones whose workflow configs differ elsewhere share their runs."""
    assert "`run_config_hash`: its own parameters" in README
    assert "identity is its `run_config_hash`" in (ROOT / "docs" / "tables.md").read_text()
    own = {"run_config_hash": "abc123"}
    for clone, config in (("a", {"seeds": [1]}), ("b", {"seeds": [1], "other": "key"})):
        build_tables(
            [make_run(tmp_path / clone, "r1", "task_only", "default", 1, 0.2, own)],
            config,
            tmp_path / clone / "tables",
        )
    report = merge_tables([tmp_path / "a" / "tables", tmp_path / "b" / "tables"], tmp_path / "out")
    assert report["duplicates"] == 1 and report["runs_out"] == 1


def test_the_hhh_proxy_has_the_rows_the_readme_says():
    """HuggingFaceH4/hhh_alignment's subsets (221 items) cut at hhh_fraction 0.9, stratified."""
    sizes = {"harmless": 58, "helpful": 59, "honest": 61, "other": 43}
    rows = [
        {"subset": s, "input": f"{s} {i}", "targets": {"choices": ["good", "bad"], "labels": [1, 0]}}
        for s, n in sizes.items()
        for i in range(n)
    ]
    claimed = int(re.search(r"`hhh_fraction` of each subset \(0\.9 → (\d+) rows", README).group(1))
    assert len(split_hhh(rows, seed=0, fraction=0.9)["sft"]) == claimed == 199


def test_the_quick_look_runs_the_sweep_the_readme_describes():
    quick = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    assert "--configfile config/quick.yaml" in section("Set-up: two commands")
    assert quick["seeds"] == [1] and quick["settings"] == ["gcd", "functions", "em"]
    for setting in quick["settings"]:
        assert list(quick[setting]["methods"]) == ["task_only", "mixed", "kl"], setting
