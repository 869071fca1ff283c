"""Every stage by hand: each `selgen` subcommand documents every option, runs with only its required paths
(the rest of its params from the config schema's defaults), and a workflow job's own params pass unchanged."""

import argparse
import json
from pathlib import Path

import pytest
import yaml

from selgen import params
from selgen.cli import main, parser
from selgen.config import runs, validate

ROOT = Path(__file__).resolve().parents[1]
MINI = validate(yaml.safe_load((ROOT / "config/config.yaml").read_text()), params.SCHEMA)


def subcommands(ap: argparse.ArgumentParser, prefix: tuple = ()):
    """(argv prefix, parser, help of each choice) of every subcommand, settings' tools included."""
    for action in ap._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sp in action.choices.items():
                yield (*prefix, name), sp, helps.get(name)
                yield from subcommands(sp, (*prefix, name))


def test_every_subcommand_documents_itself_and_every_option(capsys):
    found = list(subcommands(parser()))
    names = {" ".join(argv) for argv, _, _ in found}
    assert {
        "data",
        "train",
        "evaluate",
        "judge score",
        "judge batch",
        "tables",
        "gcd score",
        "em questions",
    } <= names
    for argv, sp, help_ in found:
        assert help_, f"selgen {' '.join(argv)}: no help line in `selgen --help`"
        for action in sp._actions:
            if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                assert action.help and action.help != argparse.SUPPRESS, (
                    f"selgen {' '.join(argv)}: option {action.option_strings or action.dest} has no help text"
                )
        with pytest.raises(SystemExit) as stop:
            main([*argv, "--help"])
        assert stop.value.code == 0
        assert capsys.readouterr().out.startswith("usage: selgen")


def test_data_runs_by_hand_with_only_its_output_folder(tmp_path):
    out = tmp_path / "data"
    assert main(["data", "gcd", "--out", str(out)]) in (0, None)
    defaults = params.default_config("gcd")["gcd"]["data"]
    rows = (out / "task_train.jsonl").read_text().splitlines()
    assert len(rows) == defaults["n_task_train"] * 2  # each task row asked and confirmed: the schema's size
    assert main(["data", "gcd", "--params", '{"n_task_train": 10}', "--out", str(tmp_path / "d2")]) in (
        0,
        None,
    )
    assert len((tmp_path / "d2" / "task_train.jsonl").read_text().splitlines()) == 20


def test_a_hand_run_gets_the_schema_defaults_and_its_own_identity():
    p = params.with_defaults("train", "gcd", {"method": "kl", "hp_values": {"beta": 1.0}, "seed": 2})
    default = params.default_config("gcd")
    assert p["run_id"] == "gcd/kl/beta=1.0/seed2" and p["hp"] == "beta=1.0"
    assert p["train"] == default["gcd"]["train"] and p["threads"] == default["threads"]
    p2 = params.with_defaults(
        "train", "gcd", {"method": "kl", "hp_values": {"beta": 1.0}, "train": {"lr": 0.5}}
    )
    assert p2["train"]["lr"] == 0.5 and p2["train"]["epochs"] == default["gcd"]["train"]["epochs"]
    assert p2["config_hash"] != p["config_hash"]  # the hash of what the hand run was given
    e = params.with_defaults("evaluate", "em", {})
    assert e["eval"] == default_eval("em") and e["method"] == "task_only"


def default_eval(setting):
    return params.default_config(setting)[setting]["eval"]


@pytest.mark.parametrize("setting", ["gcd", "functions", "em"])
def test_a_workflow_job_params_pass_unchanged(setting):
    """The workflow's params are complete: filling defaults adds or changes nothing."""
    run = runs(MINI, setting)[-1]
    ident = (setting, run["method"], run["hp"], run["hp_values"], run["seed"])
    jobs = {
        "data": params.data(MINI, setting),
        "base": params.base(MINI, setting),
        "train": params.train(MINI, *ident),
        "evaluate": params.evaluate(MINI, *ident),
        "base-run": params.base_run(MINI, setting),
    }
    for command, p in jobs.items():
        given = json.loads(json.dumps(p))  # as the job reads it
        assert params.with_defaults(command, setting, given) == given, command


def test_judge_on_a_setting_without_a_judge_is_an_input_error(tmp_path, capsys):
    replies = tmp_path / "replies.parquet"
    replies.write_bytes(b"")
    out = [str(tmp_path / f) for f in ("s.parquet", "m.parquet")]
    assert (
        main(["judge", "score", "gcd", "--replies", str(replies), "--samples", out[0], "--metrics", out[1]])
        == 2
    )
    assert "not scored by an LLM judge" in capsys.readouterr().err


def test_train_and_evaluate_run_by_hand_with_only_their_paths(finished, tmp_path):
    """`selgen train` and `selgen evaluate` given only the paths (no --params): the schema's defaults for the
    setting (method task_only, seed 0, its train and eval blocks) on the tiny workflow's data and base."""
    data, base = finished / "results/gcd/data", finished / "results/gcd/base"
    model, record = tmp_path / "model", tmp_path / "record.json"
    args = ["--data", str(data), "--base", str(base), "--out", str(model), "--record", str(record)]
    assert main(["train", "gcd", *args]) in (0, None)
    run = json.loads(record.read_text())
    default = params.default_config("gcd")["gcd"]
    assert run["run_id"] == "gcd/task_only/default/seed0" and run["finetune"] == default["train"]["finetune"]
    samples, metrics = tmp_path / "samples.parquet", tmp_path / "metrics.parquet"
    argv = ["evaluate", "gcd", "--model", str(model), "--data", str(data)]
    assert main([*argv, "--samples", str(samples), "--metrics", str(metrics)]) in (0, None)
    import pandas as pd

    assert set(pd.read_parquet(metrics)["eval_set"]) == set(default["eval"]["sets"])
