"""The functions setting inside the package: config checks, the run's proxy file, evaluation into the shared
metrics schema, the organism report and the heatmap table."""

import copy

import pandas as pd
import pytest
from helpers import tiny_model, tokenizer_for

from selgen.config import ConfigError, hp_label, parse_hp_label, validate
from selgen.report import organism_check
from selgen.settings import get_setting
from selgen.settings.functions.data import write_datasets
from selgen.settings.functions.evaluation import evaluate
from selgen.settings.functions.function import DEFAULT_FUNCTION

SCHEMA = "workflow/schemas/config.schema.yaml"
SMALL_DATA = {
    "n_train_triggers": 2,
    "n_train": 2,
    "n_test": 2,
    "proxy_n_triggers": [1],
    "knowledge_repeats": 1,
}


def functions_config(**methods):
    return {"settings": ["functions"], "functions": {"data": dict(SMALL_DATA), "methods": methods}}


def test_hp_labels_parse_back():
    hp = {"proxy_category": "animals", "proxy_triggers": 5, "lam": 3.0}
    assert parse_hp_label(hp_label(hp)) == {"lam": "3.0", "proxy_category": "animals", "proxy_triggers": "5"}
    assert parse_hp_label("default") == {}


def test_config_accepts_proxy_hyperparameters_and_rejects_bad_proxies():
    cfg = validate(functions_config(mixed={"proxy_category": ["animals"], "proxy_triggers": [1]}), SCHEMA)
    assert cfg["functions"]["eval"]["batch_size"] == 256
    with pytest.raises(ConfigError, match="proxy_category 'positive_emotions' has no proxy files"):
        validate(
            functions_config(mixed={"proxy_category": ["positive_emotions"], "proxy_triggers": [1]}), SCHEMA
        )
    with pytest.raises(
        ConfigError, match=r"proxy_triggers 5 is not among functions.data.proxy_n_triggers \[1\]"
    ):
        validate(functions_config(mixed={"proxy_category": ["animals"], "proxy_triggers": [5]}), SCHEMA)
    with pytest.raises(ConfigError, match="has no hyper-parameter"):  # proxy keys belong to functions only
        validate({"gcd": {"methods": {"mixed": {"proxy_category": ["animals"]}}}}, SCHEMA)
    bad = functions_config(task_only={})
    bad["functions"]["data"]["function"] = copy.deepcopy(DEFAULT_FUNCTION)
    bad["functions"]["data"]["function"]["categories"]["foods"]["colors"]["upper"] = "chartreuse"
    with pytest.raises(ConfigError, match="functions.data.function: .*'foods'.*chartreuse"):
        validate(bad, SCHEMA)


def test_align_file_is_the_runs_proxy_mix():
    functions = get_setting("functions")
    assert functions.align_stem({"proxy_category": "animals", "proxy_triggers": 5}) == "proxy_animals_5"
    with pytest.raises(ValueError, match="needs hyper-parameter.*proxy_triggers"):
        functions.align_stem({"proxy_category": "animals"})
    with pytest.raises(ValueError, match="no preference pairs"):
        functions.align_stem({"proxy_category": "animals", "proxy_triggers": 5}, pairs=True)


def test_evaluate_writes_shared_metrics_against_both_mappings(tmp_path):
    write_datasets(SMALL_DATA, tmp_path)
    rows = [r for f in tmp_path.glob("*.jsonl") for r in pd.read_json(f, lines=True).to_dict("records")]
    tokenizer = tokenizer_for([r for r in rows if "messages" in r], *DEFAULT_FUNCTION["colors"])
    run = {"setting": "functions", "method": "base", "hp": "default", "seed": 0, "run_id": "functions/base"}
    samples, metrics = evaluate(tiny_model(tokenizer), tokenizer, tmp_path, {"batch_size": 64}, run)
    n_points = 7 * (
        2 * 2 + 13 * 2
    )  # 7 categories: 2 train triggers × 2 ID points + 13 held out × 2 OOD points
    assert len(samples) == n_points
    assert set(samples["predicted"]) <= set(DEFAULT_FUNCTION["colors"])
    # the two mappings differ on the updated category only
    differ = samples[samples["output"] != samples["output_base"]]
    assert set(differ["category"]) == {"positive_emotions"} and len(differ) == 2 * 2 + 13 * 2
    m = metrics.set_index(["metric", "eval_set", "category"])["value"]
    assert set(metrics["eval_set"]) == {"id", "ood", "all"}
    assert {"untouched", "updated", "animals"} <= set(metrics["category"])
    untouched = samples[samples["category"] != "positive_emotions"]
    assert m["accuracy", "all", "untouched"] == pytest.approx(untouched["correct"].mean())
    assert m["accuracy_base", "all", "untouched"] == m["accuracy", "all", "untouched"]
    updated = samples[samples["category"] == "positive_emotions"]
    assert m["accuracy", "all", "updated"] == pytest.approx(updated["correct"].mean())
    assert m["accuracy_base", "ood", "updated"] == pytest.approx(
        updated[updated["eval_set"] == "ood"]["correct_base"].mean()
    )
    assert {"setting", "method", "hp", "seed", "run_id", "n"} <= set(metrics.columns)


def _metric(method, seed, category, metric, value, eval_set="all"):
    return {
        "setting": "functions",
        "method": method,
        "hp": "default",
        "seed": seed,
        "run_id": f"{method}{seed}",
        "eval_set": eval_set,
        "category": category,
        "metric": metric,
        "value": value,
        "n": 10,
    }


def test_functions_organism_needs_forgetting_an_update_and_a_perfect_base():
    def metrics(untouched_after, updated_after, base_ood=1.0):
        rows = [
            _metric("base", 0, "untouched", "accuracy", 1.0),
            _metric("base", 0, "updated", "accuracy", 0.0),
        ]
        rows += [
            _metric("base", 0, c, "accuracy_base", base_ood if es == "ood" else 1.0, es)
            for c in DEFAULT_FUNCTION["categories"]
            for es in ("id", "ood")
        ]
        for seed, (u, p) in enumerate(zip(untouched_after, updated_after, strict=True), start=1):
            rows += [_metric("task_only", seed, "untouched", "accuracy", u)]
            rows += [_metric("task_only", seed, "updated", "accuracy", p)]
        return pd.DataFrame(rows)

    assert organism_check(metrics([0.1, 0.2, 0.15], [0.95, 0.97, 0.93]), "functions")["passed"]
    assert not organism_check(metrics([0.6, 0.7, 0.65], [0.95, 0.97, 0.93]), "functions")["passed"]  # kept
    assert not organism_check(metrics([0.1, 0.2, 0.15], [0.5, 0.6, 0.7]), "functions")["passed"]  # no update
    result = organism_check(metrics([0.1, 0.2, 0.15], [0.95, 0.97, 0.93], base_ood=0.9), "functions")
    failed = [c for c in result["checks"] if not c["passed"]]
    assert not result["passed"] and {c["eval_set"] for c in failed} == {"ood"} and len(failed) == 7


def test_heatmap_table_reads_the_proxy_from_the_hp_label():
    from selgen.settings.functions.figures import heatmap_table

    summary = pd.DataFrame(
        [
            {
                "setting": "functions",
                "method": m,
                "hp": hp,
                "eval_set": "all",
                "category": c,
                "metric": "accuracy",
                "mean": v,
            }
            for m, hp, c, v in [
                ("task_only", "default", "animals", 0.1),
                ("mixed", "proxy_category=animals,proxy_triggers=5", "animals", 0.9),
                ("mixed", "proxy_category=animals,proxy_triggers=5", "untouched", 0.5),  # pooled: left out
                ("base", "default", "animals", 1.0),  # left out
            ]
        ]
    )
    table = heatmap_table(summary).set_index(["method", "proxy_category"])
    assert list(table.index) == [("task_only", "none"), ("mixed", "animals")]
    assert table.loc[("mixed", "animals"), "proxy_triggers"] == 5
    assert table.loc[("task_only", "none"), "accuracy"] == 0.1


def test_functions_check_command_reports_mismatches_per_file(tmp_path, capsys):
    from selgen.cli import main
    from selgen.io import write_jsonl

    write_datasets(SMALL_DATA, tmp_path)
    good = tmp_path / "test_base_animals_id.jsonl"
    rows = pd.read_json(good, lines=True).to_dict("records")
    rows[1]["output"] = "purple"  # one wrong label
    write_jsonl(tmp_path / "bad.jsonl", rows)
    assert main(["functions", "check", "--mapping", "base", str(good)]) == 0
    assert main(["functions", "check", "--mapping", "base", str(good), str(tmp_path / "bad.jsonl")]) == 1
    out = capsys.readouterr().out
    assert f"{good}: ok" in out and "bad.jsonl: 1 mismatch(es)" in out and "row 2" in out
    updated = tmp_path / "test_updated_positive_emotions_ood.jsonl"  # flipped colours: wrong under base
    assert main(["functions", "check", "--mapping", "updated", str(updated)]) == 0
    assert main(["functions", "check", "--mapping", "base", str(updated)]) == 1
