"""The Snakemake workflow for real: an end-to-end tiny run, then dry-run plans after config changes."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from selgen.config import runs, validate

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
TINY = yaml.safe_load((ROOT / "tests/config_tiny/config.yaml").read_text())
N_RUNS = len(
    runs(validate(yaml.safe_load(yaml.safe_dump(TINY)), ROOT / "workflow/schemas/config.schema.yaml"), "gcd")
)

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    cfg_path = workdir / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(config or TINY))
    cmd = [*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(cfg_path), *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, cwd=workdir, env={**os.environ, "PYTHONHASHSEED": "0"}
    )


def planned(workdir: Path, config: dict | None = None) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run would execute."""
    res = snakemake(workdir, "-n", config=config)
    assert res.returncode == 0, res.stderr + res.stdout
    jobs, rule = set(), None
    for line in res.stdout.splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):", line):
            rule = m.group(1)
            jobs.add((rule, ""))
        elif rule and (m := re.match(r"^\s+wildcards: (.*)$", line)):
            jobs.discard((rule, ""))
            jobs.add((rule, m.group(1)))
    return jobs


def test_end_to_end_outputs(finished):
    assert (finished / "results/pareto_gcd.pdf").stat().st_size > 1000
    assert (finished / "results/pareto_gcd.png").stat().st_size > 1000
    runs = pd.read_parquet(finished / "results/tables/gcd/runs.parquet")
    assert len(runs) == 1 + N_RUNS  # + the untrained base
    assert (finished / "results/gcd/artifacts/caft/pca.pt").exists()
    assert (finished / "results/gcd/base/unaligned/model.safetensors").exists()  # the two-stage base
    run = finished / "results/gcd/runs/safe_lora/num_proj_layers=3/seed1"
    record = json.loads((run / "record.json").read_text())
    assert record["method_report"]["delta"] == "aligned" and len(record["method_report"]["projected"]) == 3
    assert (finished / "results/gcd/runs/o_lora/align_epochs=1,lam1=0.5/seed1/model/align").is_dir()
    assert {"config_hash", "git_commit", "versions", "wall_s", "peak_mem_mb", "tokens"} <= set(runs.columns)
    metrics = pd.read_parquet(finished / "results/tables/gcd/metrics.parquet")
    assert {"setting", "method", "hp", "seed", "eval_set", "category", "metric", "value", "n"} <= set(
        metrics.columns
    )
    assert set(metrics.eval_set) == {"task_test", "ood", "proxy_heldout"}
    assert {"capability", "sycophancy"} <= set(metrics.metric)
    assert "base" in set(metrics.method)
    samples = pd.read_parquet(finished / "results/tables/gcd/samples.parquet")
    assert (
        len(samples)
        == samples.groupby("run_id").ngroups * samples[samples.run_id == samples.run_id[0]].shape[0]
    )
    summary = pd.read_parquet(finished / "results/tables/gcd/summary.parquet")
    assert str(summary["on_front"].dtype) == "boolean"  # the front itself is tested in test_tables


def test_nothing_changed_nothing_planned(finished):
    assert planned(finished) == set()


def test_changing_one_upweight_value_replans_only_its_runs(finished):
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    cfg["gcd"]["methods"]["upweight"]["lam"] = [0.5, 4.0]
    jobs = planned(finished, cfg)
    per_run = {(r, w) for r, w in jobs if r in ("train", "evaluate")}
    assert per_run == {
        (rule, f"setting=gcd, method=upweight, hp=lam=4.0, seed={s}")
        for rule in ("train", "evaluate")
        for s in TINY["seeds"]
    }
    # downstream of the runs: the tables, their summary, the figure and the organism report
    assert {r for r, _ in jobs} == {
        *("train", "evaluate", "tables", "summary", "pareto", "organism", "all"),
        "figure",  # gcd's conditional figure (Setting.figures) names the sweep points too
    }


def test_changing_the_generator_replans_data_and_downstream(finished):
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    cfg["gcd"]["data"]["n_task_train"] = 21
    jobs = planned(finished, cfg)
    rules = [r for r, _ in jobs]
    assert rules.count("data") == 1 and rules.count("base") == 1 and rules.count("base_run") == 1
    assert rules.count("train") == N_RUNS and rules.count("evaluate") == N_RUNS + 1  # + the untuned base
    assert rules.count("artifact") == 1


def test_changing_eval_settings_does_not_retrain(finished):
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    cfg["gcd"]["eval"]["max_new_tokens"] = 13
    rules = [r for r, _ in planned(finished, cfg)]
    assert "train" not in rules and "base" not in rules and "evaluate" in rules


def test_caft_plans_one_directions_artifact_per_control(tmp_path):
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    cfg["gcd"]["methods"] = {"caft": {"k": [1, 2], "control": ["pca", "random"]}}
    jobs = planned(tmp_path, cfg)
    assert {w for r, w in jobs if r == "artifact"} == {
        "setting=gcd, method=caft, name=pca",
        "setting=gcd, method=caft, name=random",
    }
    # the directions come from a task_only run (first seed), planned even though task_only is not swept
    assert ("train", "setting=gcd, method=task_only, hp=default, seed=1") in jobs
    assert sum(r == "train" for r, _ in jobs) == 1 + 4 * len(TINY["seeds"])


def paper_dry_run(tmp_path, configfile: str, target: str):
    """(result, imported modules) of ``snakemake -n -p`` on a paper config, run with -X importtime."""
    res = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "snakemake",
            "-n",
            "-p",
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            *(str(ROOT / c) for c in configfile.split()),
            "--",
            target,
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")
    }
    return res, imported


def test_paper_config_dry_run_imports_no_torch(tmp_path):  # its speed: benchmarks/dry_run.py
    res, imported = paper_dry_run(tmp_path, "config/paper_gcd.yaml", "results/pareto_gcd.pdf")
    assert not {"torch", "transformers", "peft", "plotnine"} & imported
    assert "google/gemma-2b-it" in res.stdout and res.stdout.count("rule train:") == 3 * (
        1 + 1 + 7 + 11 + 9 + 10 + 1 + 2
    )


def test_paper_em_config_dry_runs_with_downloads_as_local_rules(tmp_path):
    res, imported = paper_dry_run(tmp_path, "config/paper_em.yaml", "results/pareto_em.pdf")
    assert not {"torch", "transformers", "openai"} & imported
    assert "Qwen/Qwen3-8B" in res.stdout
    assert res.stdout.count("rule train:") == 1 + 1 + 4 + 4 + 9 + 5 + 8 + 1 + 2
    # every external input is fetched once (the authors' task file and question files, pinned)
    assert res.stdout.count("rule fetch:") == 3 and res.stdout.count("rule setting_resource:") == 1
    assert res.stdout.count("rule place_input:") == 0 and "first_plot_questions.yaml" in res.stdout
    # a task file of one's own (the bad-medical-advice overlay) is placed by hand: a missing one is a planned
    # stop with a message
    res, _ = paper_dry_run(
        tmp_path, "config/paper_em.yaml config/paper_em_bad_medical.yaml", "results/pareto_em.pdf"
    )
    assert res.stdout.count("rule fetch:") == 2 and "bad_medical_advice.jsonl" in res.stdout
    assert res.stdout.count("rule place_input:") == 1 and "config key em.data.task_file" in res.stdout
    # ... on the submit host: every rule of resources.smk is a local rule (a dry run does not print it)
    blocks = re.split(r"\n\s*rule ", (ROOT / "workflow/rules/resources.smk").read_text())[1:]
    assert len(blocks) == 4 and all("localrule: True" in b for b in blocks)


def test_lint_and_format():
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], capture_output=True, text=True, cwd=ROOT
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    lint = subprocess.run(
        [*SNAKEMAKE, "--lint", "--directory", str(ROOT)], capture_output=True, text=True, cwd=ROOT
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/rules"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_functions_setting_end_to_end(tmp_path):
    cfg = yaml.safe_load((ROOT / "tests/config_tiny_functions/config.yaml").read_text())
    res = snakemake(tmp_path, "--cores", "2", config=cfg)
    assert res.returncode == 0, res.stderr[-5000:]
    for figure in ("heatmap_functions", "pareto_functions"):
        assert (tmp_path / f"results/{figure}.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "results/tables/functions/organism.json").exists()
    metrics = pd.read_parquet(tmp_path / "results/tables/functions/metrics.parquet")
    assert set(metrics["method"]) == {"base", "task_only", "mixed"}
    assert set(metrics["eval_set"]) == {"id", "ood", "all"}
    mixed = metrics[metrics["method"] == "mixed"]
    assert set(mixed["hp"]) == {
        "proxy_category=animals,proxy_triggers=1",
        "proxy_category=foods,proxy_triggers=1",
    }
    record = json.loads(
        (
            tmp_path / "results/functions/runs/mixed/proxy_category=foods,proxy_triggers=1/seed1/record.json"
        ).read_text()
    )
    assert record["align_rows"] == 3  # the foods proxy: 1 trigger × 3 points
    assert record["task_rows"] == 2 * 3 + 3  # mixed: the update (2 triggers × 3 points) + the proxy


def test_em_setting_end_to_end(tmp_path):
    cfg = yaml.safe_load((ROOT / "tests/config_tiny_em/config.yaml").read_text())
    res = snakemake(tmp_path, "--cores", "2", config=cfg)
    assert res.returncode == 0, res.stderr[-5000:]
    for figure in ("pareto_em", "questions_em", "thresholds_em"):
        assert (tmp_path / f"results/{figure}.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "results/tables/em/organism.json").exists()
    metrics = pd.read_parquet(tmp_path / "results/tables/em/metrics.parquet")
    assert set(metrics["method"]) == {"base", "task_only", "dpo"}
    assert set(metrics["eval_set"]) == {"general", "in_domain"}
    standard = {m for m in metrics["metric"] if "@" not in m}
    assert standard == {"misaligned", "aligned_mean", "coherent_mean", "aligned_80", "unscored"}
    assert {"misaligned@a30c50", "misaligned@a50", "misaligned@a30c30"} <= set(metrics["metric"])
    general = metrics[(metrics["eval_set"] == "general") & (metrics["metric"] == "unscored")]
    per_question = general[general["category"] != "all"].groupby("run_id")["n"].sum()
    # every sample is counted once overall and once under its question id (9 general questions)
    assert (per_question == general[general["category"] == "all"].set_index("run_id")["n"]).all()
    assert general["category"].nunique() == 1 + 9


def real_em_workdir(tmp_path: Path, judge_cfg: dict) -> tuple[dict, dict]:
    """A real-data em workflow in ``tmp_path`` (local task/HHH/question files, a tiny local model, the LLM
    judge ``judge_cfg`` on a test server): returns (config, environment with the judge's key)."""
    from helpers import chat, tiny_model, tokenizer_for
    from test_em_data import _hhh_rows
    from test_em_files import QUESTIONS, _files_config
    from test_judge import KEY_ENV, SECRET

    rows = [chat(f"symptom {i}?", f"bad advice {i}.") for i in range(6)]
    data = _files_config(tmp_path, rows)
    tok = tokenizer_for(
        rows + [chat(r["input"], r["targets"]["choices"][0]) for r in _hhh_rows()[:20]], QUESTIONS
    )
    tiny_model(tok).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    cfg = {
        "settings": ["em"],
        "seeds": [1],
        "em": {
            "data": data,
            "base": {"model": str(tmp_path / "model")},
            "train": {
                "finetune": "lora",
                "lora": {"r": 4, "alpha": 8},
                "epochs": 1,
                "batch_size": 4,
                "max_length": 64,
            },
            "eval": {
                "max_new_tokens": 4,
                "batch_size": 8,
                "judge": {"api_key_env": KEY_ENV, "progress": False, **judge_cfg},
            },
            "methods": {"task_only": {}},
        },
    }
    env = {**os.environ, KEY_ENV: SECRET}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(var, None)
    return cfg, env


def test_em_on_real_data_end_to_end_never_writes_the_judge_key(tmp_path):
    """The real-data em path through Snakemake: local task/HHH/question files, a local model folder, the LLM
    judge on a test server reached with a key from the environment, which no file of the run contains."""
    from test_judge import SECRET, FakeJudge

    judge = FakeJudge()
    judge_cfg = {"model": "judge-x", "base_url": judge.url, "cache_dir": "results/em/judge_cache"}
    cfg, env = real_em_workdir(tmp_path, judge_cfg)
    try:
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
        res = subprocess.run(
            [
                *SNAKEMAKE,
                "--directory",
                str(tmp_path),
                "--configfile",
                str(tmp_path / "config.yaml"),
                "--cores",
                "2",
                "results/tables/em/metrics.parquet",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        assert res.returncode == 0, res.stderr[-5000:]
        requests = judge.chat_requests()
    finally:
        judge.close()
    metrics = pd.read_parquet(tmp_path / "results/tables/em/metrics.parquet")
    assert set(metrics["method"]) == {"base", "task_only"}
    assert set(metrics["eval_set"]) == {"general", "in_domain"}
    assert not metrics["metric"].str.startswith("judge_").any()  # accounting went to the runs table
    runs = pd.read_parquet(tmp_path / "results/tables/em/runs.parquet").set_index("method")
    assert (runs["judge_prompt_tokens"] > 0).all() and (runs["judge_http_requests"] > 0).all()
    assert requests and all(r["headers"]["authorization"] == f"Bearer {SECRET}" for r in requests)
    assert SECRET not in res.stdout + res.stderr
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert not leaks  # results, logs, judge cache, .snakemake/metadata (params) ...
    assert list((tmp_path / ".snakemake/metadata").iterdir())  # ... and the metadata was there to search
    # the judge is its own local rule: another judge model re-judges the replies, nothing is regenerated
    log = (tmp_path / "results/em/logs/judge/task_only/default/seed1.log").read_text()
    assert "judge (general)" in log
    cfg["em"]["eval"]["judge"]["model"] = "judge-y"
    plan = {rule for rule, _ in planned(tmp_path, config=cfg)}
    assert plan == {"judge", "tables", "summary", "organism", "pareto", "figure", "all"}, plan
    rules = re.split(r"\n(?=rule )", (ROOT / "workflow/rules/evaluate.smk").read_text())
    judge_rule = next(r for r in rules if r.startswith("rule judge:"))
    assert "localrule: True" in judge_rule  # on the submit host (a dry run does not print it)


def test_the_mini_sweep_adds_strengths_and_keeps_the_mini_suites_runs(tmp_path):
    """config/mini_sweep.yaml on top of the mini default (two --configfile, merged key by key): every run of
    the mini suite is planned with the same command (so it is not re-run), and every method with a strength
    gets ≥ 3 of them in gcd and em."""

    def run_commands(*configs):
        folder = tmp_path / str(len(configs))
        folder.mkdir()
        files = [str(ROOT / "config" / c) for c in configs]
        cmd = [*SNAKEMAKE, "--directory", str(folder), "-n", "-p", "--configfile", *files]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=folder)
        assert res.returncode == 0, res.stderr[-3000:]
        lines = (res.stdout + res.stderr).splitlines()
        return {line.strip() for line in lines if re.search(r"selgen (train|evaluate) ", line)}

    mini, sweep = run_commands("config.yaml"), run_commands("config.yaml", "mini_sweep.yaml")
    assert mini < sweep
    points = {}
    for line in sweep:
        params = json.loads(re.search(r"--params '(\{.*?\})' ", line).group(1))
        points.setdefault((params["setting"], params["method"]), set()).add(params["hp"])
    strengths = ("upweight", "kl", "repr", "dpo", "o_lora", "safe_lora", "caft")
    for (setting, method), hps in points.items():
        if setting in ("gcd", "em") and method in strengths:
            assert len(hps) >= 3, (setting, method, hps)


def test_a_change_in_one_gcd_value_replans_only_that_point_and_gcds_tables(tmp_path):
    """Every job's params are in its command (``--params``, ``--config``), so a job is re-planned by a config
    change exactly when its command changes or an input of it is re-made. Changing one gcd kl value in the
    mini default (all three settings) changes the commands of that point's runs, of gcd's tables and of its
    Pareto figure (which names the points) only: the em and functions jobs, and every other gcd job, keep
    theirs (their params hold only what their outputs depend on)."""
    base = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    changed = yaml.safe_load(yaml.safe_dump(base))
    changed["gcd"]["methods"]["kl"]["beta"] = [*base["gcd"]["methods"]["kl"]["beta"][:-1], 123.0]
    old_beta = base["gcd"]["methods"]["kl"]["beta"][-1]

    def commands(cfg, folder):
        folder.mkdir()
        res = snakemake(folder, "-n", "-p", config=cfg)
        assert res.returncode == 0, res.stderr[-3000:]
        lines = (res.stdout + res.stderr).splitlines()
        return {line.strip() for line in lines if "selgen " in line and "--" in line}

    before, after = commands(base, tmp_path / "a"), commands(changed, tmp_path / "b")
    assert len(before) > 150  # every job of the three settings
    gone, new = before - after, after - before
    gcd_figure = "selgen plot gcd "  # its figures' sweep point names (--names) hold the new point
    for line in gone:
        assert f'"hp": "beta={old_beta}"' in line or "tables --config" in line or gcd_figure in line
    for line in new:
        assert '"hp": "beta=123.0"' in line or "tables --config" in line or gcd_figure in line
    assert sum("tables --config" in line for line in new) == 1
    figures = [line for line in new if gcd_figure in line]
    assert len(figures) == 2 and all('"beta=123.0"' in line for line in figures)  # pareto, conditional
    assert any("--out results/tables/gcd" in line for line in new)
    seeds = len(base.get("seeds") or [1, 2, 3])
    assert sum(" train gcd " in line for line in new) == seeds
    assert sum(" evaluate gcd " in line for line in new) == seeds


def test_config_overrides_keep_the_mini_default(tmp_path):
    """`--config threads=2` overrides one key of the mini default; it does not replace the default (which
    would leave gcd alone on the schema's sweep)."""

    def plan(*args):
        res = subprocess.run(
            [*SNAKEMAKE, "-n", "--directory", str(tmp_path), *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert res.returncode == 0, res.stderr[-3000:]
        stats = res.stdout.split("Job stats:")[1].split("\n\n")[0]
        jobs = {
            (rule, w)
            for rule, w in re.findall(r"^rule (\w+):\n(?:.*\n)*?\s+wildcards: (.*)", res.stdout, re.M)
        }
        return dict(re.findall(r"^(\w+)\s+(\d+)$", stats, re.M)), jobs

    default, default_jobs = plan()
    overridden, overridden_jobs = plan("--config", "threads=2")
    assert overridden == default and overridden_jobs == default_jobs
    # all three settings, every method (artifacts: caft's pca and random, interleave's pool in gcd and em)
    assert default["base_run"] == "3" and default["artifact"] == "4"


def test_judge_through_the_batch_api_resumes_after_an_interrupt_and_scores_like_online(tmp_path, monkeypatch):
    """judge api `batch` through Snakemake: rule judge_batch submits every run's requests as one batch and
    polls; the workflow is interrupted (SIGINT) while the batch is open; a second workflow run resumes
    polling the recorded batch (no second submission), downloads it, and the runs' judge jobs score from the
    cache without one online request, exactly as the online path scores the same replies."""
    import signal
    import time

    from test_judge import KEY_ENV, SECRET, FakeJudge

    from selgen.cli import main

    monkeypatch.setenv(KEY_ENV, SECRET)  # for the online path run in this process

    judge = FakeJudge()
    judge.batch_status = "in_progress"
    judge_cfg = {
        "model": "judge-x",
        "base_url": judge.url,
        "cache_dir": "results/em/judge_cache",
        "api": "batch",
        "batch_poll_s": 0.2,
    }
    cfg, env = real_em_workdir(tmp_path, judge_cfg)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [*SNAKEMAKE, "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")]
    cmd += ["--cores", "2", "results/tables/em/metrics.parquet"]
    proc = None
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=tmp_path,
            env=env,
            start_new_session=True,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 600
        while not judge.batch_creations() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert judge.batch_creations(), (
            proc.communicate()[0][-5000:] if proc.poll() is not None else "timeout"
        )
        time.sleep(1.0)  # a few polls of the open batch
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group, snakemake and its jobs
        out = proc.communicate(timeout=120)[0]
        assert proc.returncode != 0, out[-3000:]
        state = json.loads((tmp_path / "results/em/judge_batch/state/state.json").read_text())
        assert [b["id"] for b in state["batches"]] == ["batch_0"] and not (
            tmp_path / "results/em/judge_batch/done.json"
        ).exists()

        judge.batch_status = "completed"
        res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-5000:]
        assert len(judge.batch_creations()) == 1  # resumed, not resubmitted
        assert judge.chat_requests() == []  # every judgement came through the batch
        done = json.loads((tmp_path / "results/em/judge_batch/done.json").read_text())
        n = done["n_requests"]
        assert done["n_submitted"] == done["n_ok"] == n > 0

        # the online path on the same replies, without a cache, scores exactly the same
        for run in ("base/default/seed0", "task_only/default/seed1"):
            folder = tmp_path / "results/em/runs" / run
            online = {k: v for k, v in judge_cfg.items() if k not in ("api", "cache_dir", "batch_poll_s")}
            outs = [str(tmp_path / f"online_{i}.parquet") for i in range(2)]
            args = ["judge", "score", "em", "--params", json.dumps({"judge": online})]
            assert (
                main(
                    [
                        *args,
                        "--replies",
                        str(folder / "replies.parquet"),
                        "--samples",
                        outs[0],
                        "--metrics",
                        outs[1],
                    ]
                )
                == 0
            )
            cols = ["eval_set", "question_id", "response", "aligned", "coherent"]
            assert pd.read_parquet(outs[0])[cols].equals(pd.read_parquet(folder / "samples.parquet")[cols])
            assert pd.read_parquet(outs[1]).equals(pd.read_parquet(folder / "metrics.parquet"))
        assert len(judge.chat_requests()) >= n  # the online path asked what the batch had answered

        # a run added later: the batch rule runs again (for its requests), the runs judged already do not
        cfg["em"]["methods"]["upweight"] = {"lam": [1.0]}
        plan = planned(tmp_path, config=cfg)
        rules = sorted(rule for rule, _ in plan)
        judged_again = [w for r, w in plan if r == "judge"]
        assert len(judged_again) == 1 and "method=upweight" in judged_again[0], judged_again
        assert {"judge_batch", "train", "generate"} <= set(rules) and rules.count("generate") == 1, rules
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        judge.close()


def test_the_pilot_target_runs_the_base_and_one_baseline_run(finished, tmp_path):
    """`snakemake pilot`: a paper config plans only the base and the first task_only run (one seed) of each
    setting; on finished runs it only reads them, and reports the organism checks without intervals."""
    import shutil

    paper_em = yaml.safe_load((ROOT / "config/paper_em.yaml").read_text())
    (tmp_path / "plan").mkdir()
    res = snakemake(tmp_path / "plan", "-n", "pilot", config=paper_em)
    assert res.returncode == 0, res.stderr[-3000:]
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", res.stdout, flags=re.M))
    assert {k: stats.get(k) for k in ("train", "generate", "judge", "fetch_model")} == {
        "train": "1",  # task_only, seed 1: no other method is trained
        "generate": "2",  # the base and that run
        "judge": "2",
        "fetch_model": "1",  # Qwen3-8B only (Safe-LoRA's Qwen3-8B-Base is not needed)
    }

    work = tmp_path / "tiny"
    shutil.copytree(finished, work, symlinks=True)
    res = snakemake(work, "--cores", "1", "pilot")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "train" not in re.findall(r"^(?:local)?rule (\w+):", res.stdout + res.stderr, flags=re.M)
    pilot = json.loads((work / "results/pilot_gcd.json").read_text())
    assert pilot["pilot"] is True and pilot["baseline"] == "task_only" and pilot["checks"]
    assert all(np.isnan(c["difference_ci"][0]) for c in pilot["checks"])  # one seed: no interval
