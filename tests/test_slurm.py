"""The `slurm` profile for real: a single-node SLURM cluster on this machine runs a tiny sweep through
`snakemake --profile slurm` (real sbatch, srun, squeue), and a 1,000-job paper-scale plan through the profile.

The cluster test needs root and Debian's `slurm-wlm` and `munge` (CI installs them, see .ci/run); elsewhere it
is skipped, unless SELGEN_REQUIRE_SLURM=1 (CI) turns the skip into a failure.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from slurm_cluster import Cluster, unavailable

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]

pytestmark = pytest.mark.slow


def snakemake_from_root(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    """Snakemake run from the repository root, as users do (`--profile slurm` is looked up there)."""
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(cfg), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = unavailable()
    if why:
        if os.environ.get("SELGEN_REQUIRE_SLURM") == "1":
            pytest.fail(f"SELGEN_REQUIRE_SLURM=1 but {why}")
        pytest.skip(why)
    running = Cluster(tmp_path_factory.mktemp("slurm")).start()
    yield running
    running.stop()


def tiny_sweep() -> dict:
    config = yaml.safe_load((ROOT / "tests/config_tiny/config.yaml").read_text())
    config["seeds"] = [1]
    config["gcd"]["methods"] = {"task_only": {}, "upweight": {"lam": [2.0]}}
    config["resources"] = {
        rule: {"gpu": 1, "mem_mb": 1000, "runtime": 10} for rule in ("base", "train", "evaluate")
    }
    return config


def test_tiny_sweep_runs_through_sbatch_with_training_on_the_gpu_partition(cluster, tmp_path):
    res = snakemake_from_root(
        tmp_path,
        tiny_sweep(),
        "--profile",
        "slurm",  # the literal profile name: the link at the repository root
        "--slurm-status-command",
        "squeue",  # no accounting database on this one-node cluster
        "--slurm-init-seconds-before-status-checks",
        "3",
        "results/pareto_gcd.pdf",
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    assert (tmp_path / "results/pareto_gcd.pdf").stat().st_size > 0
    runs = sorted((tmp_path / "results/gcd/runs").glob("*/*/seed*/record.json"))
    jobs = {i: j for i, j in cluster.jobs().items() if j["WorkDir"] == str(tmp_path)}  # this test's
    # every training ran inside a SLURM job (its own record says which), on partition gpu, with a GPU
    trained = [json.loads(r.read_text()) for r in runs if "/base/" not in str(r)]
    assert {r["method"] for r in trained} == {"task_only", "upweight"}
    for record in trained:
        job = jobs[record["slurm_job_id"]]
        assert job["Partition"] == "gpu", job
        assert job["TresPerJob"] == "gres:gpu:1", job
        assert job["JobState"] == "COMPLETED", job
        assert job["Comment"] == "rule_run_evaluate_train", job  # a run's train + evaluate: one job
    # the mini base and the base's evaluation too; data, tables and figures stayed local
    comments = sorted(j["Comment"] for j in jobs.values())
    assert comments == [
        "rule_base_wildcards_gcd",
        "rule_run_evaluate",  # the untuned base's evaluation (its base_run is local)
        "rule_run_evaluate_train",
        "rule_run_evaluate_train",
    ]
    assert {j["Partition"] for j in jobs.values()} == {"gpu"}  # not the cluster's default (cpu)
    # the controller's own log: where each job was started (main scheduler or backfill)
    log = cluster.ctld_log.read_text()
    started = re.findall(r"Allocate JobId=(\d+) .*Partition=(\w+)|Started JobId=(\d+) in (\w+) on", log)
    started = [(a or c, b or d) for a, b, c, d in started if (a or c) in jobs]
    assert sorted(started) == sorted((i, "gpu") for i in jobs)


def paper_sweep(n_jobs: int) -> dict:
    """config/paper_em.yaml with enough seeds for at least ``n_jobs`` jobs (train + evaluate per run)."""
    config = yaml.safe_load((ROOT / "config/paper_em.yaml").read_text())
    from selgen.config import runs, validate

    n_runs = len(
        runs(
            validate(yaml.safe_load(yaml.safe_dump(config)), ROOT / "workflow/schemas/config.schema.yaml"),
            "em",
        )
    )
    config["seeds"] = list(range(1, n_jobs // (2 * n_runs) + 2))
    return config


def test_paper_scale_plan_through_the_slurm_profile_shows_gpu_requests(tmp_path):
    res = snakemake_from_root(
        tmp_path, paper_sweep(1000), "--profile", "slurm", "-n", "results/pareto_em.pdf"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    n_train = len(re.findall(r"^\s*rule train:", res.stdout, re.M))
    n_eval = len(re.findall(r"^\s*rule generate:", res.stdout, re.M))  # em on real data: generate, judge
    # every run's replies, and the untuned base's (the run base/default/seed0: rule base_run, no training)
    assert n_eval == n_train + 1 and n_train + n_eval >= 1000, (n_train, n_eval)
    assert res.stdout.count("Group job run") == n_eval  # a run's train + generate: one SLURM job
    train_resources = re.findall(r"rule train:\n(?:.*\n)*?\s+resources: (.*)", res.stdout)
    assert len(train_resources) == n_train
    for resources in train_resources:
        for want in ("slurm_partition=gpu", "gpu=1", "mem_mb=64000", "runtime=480"):
            assert want in resources.split(", "), resources


def test_a_requeued_training_job_resumes_from_its_checkpoint(cluster, tmp_path):
    """`scontrol requeue` (what preemption does): SLURM sends SIGTERM, the training saves a checkpoint and
    stops, the job runs again and continues from that step; Snakemake sees one job that completes."""
    config = tiny_sweep()
    config["gcd"]["methods"] = {"task_only": {}}
    config["gcd"]["train"]["epochs"] = 150  # hundreds of steps: time to requeue it mid-run
    target = "results/gcd/runs/task_only/default/seed1/metrics.parquet"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [*SNAKEMAKE, "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")]
    cmd += ["--profile", "slurm", "--slurm-status-command", "squeue"]
    cmd += ["--slurm-init-seconds-before-status-checks", "3", target]
    env = {**os.environ, "SELGEN_CHECKPOINT_STEPS": "100"}  # sbatch --export=ALL passes it on
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 240
        while not list((tmp_path / "scratch").rglob("checkpoint.pt")):
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        (job_id,) = [  # this test's run (the controller also remembers the other tests' jobs)
            i
            for i, j in cluster.jobs().items()
            if j["Comment"] == "rule_run_evaluate_train" and j["WorkDir"] == str(tmp_path)
        ]
        subprocess.run(["scontrol", "requeue", job_id], check=True)
        while cluster.jobs()[job_id]["JobState"] != "PENDING":  # the old run stops (SIGTERM), then ...
            time.sleep(0.2)
        # ... SLURM holds a requeued job back ~2 min (BeginTime); a test need not wait for that
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
        out, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-5000:]
    record = json.loads((tmp_path / "results/gcd/runs/task_only/default/seed1/record.json").read_text())
    assert record["slurm_job_id"] == job_id and record["resumed_at_step"] >= 100
    assert cluster.jobs()[job_id]["Restarts"] == "1"
    assert (tmp_path / target).exists()


def _plan_from_root(*args: str) -> str:
    """A dry run exactly as a user types it in the repository root (no --directory, no --configfile)."""
    res = subprocess.run(
        [*SNAKEMAKE, "-n", *args], cwd=ROOT, capture_output=True, text=True, env=os.environ.copy()
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res.stdout + res.stderr


def _train_jobs(plan: str) -> list[tuple[str, str, str]]:
    """(input, wildcards, resources) of every train job in a dry run's output."""
    return re.findall(r"rule train:\n\s+input: (.*)\n(?:.*\n)*?\s+wildcards: (.*)\n\s+resources: (.*)", plan)


def test_the_literal_paper_command_plans_the_paper_and_a_configfile_still_wins():
    """`snakemake --profile slurm results/pareto_em.pdf`, typed as the README says, plans Qwen/Qwen3-8B
    training on the GPU partition (the profile's default config is the paper's); `results/pareto_gcd.pdf`
    plans google/gemma-2b-it; with `--configfile config/config.yaml` the same profile plans the mini suite,
    whose jobs ask for no GPU."""
    for target, model, n_seeds in (
        ("results/pareto_em.pdf", "resources/models/Qwen/Qwen3-8B", 1),
        ("results/pareto_gcd.pdf", "resources/models/google/gemma-2b-it", 3),
    ):
        plan = _plan_from_root("--profile", "slurm", target)
        jobs = _train_jobs(plan)
        assert len(jobs) >= 10 * n_seeds, target
        for inputs, _, resources in jobs:
            assert model in inputs.split(", "), inputs
            for want in ("slurm_partition=gpu", "gpu=1"):
                assert want in resources.split(", "), resources
        seeds = {re.search(r"seed=(\d+)", wc).group(1) for _, wc, _ in jobs}
        assert len(seeds) == n_seeds  # each experiment's own seeds (config/paper.yaml)
    mini = _plan_from_root(
        "results/pareto_em.pdf", "--profile", "slurm", "--configfile", "config/config.yaml"
    )
    jobs = _train_jobs(mini)
    assert jobs and all("results/em/base" in inputs.split(", ") for inputs, _, _ in jobs)
    assert all("gpu=0" in resources.split(", ") for _, _, resources in jobs)
    assert "rule fetch_model" not in mini and "rule base:" in mini
