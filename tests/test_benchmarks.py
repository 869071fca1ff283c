"""The benchmark scripts run end to end on CPU: gpu_check.py --tiny (every method on tiny shapes of both real
architectures) and step_cost.py's large-vocabulary case (reduced). Rows are checked, timings are not."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402
import step_cost  # noqa: E402

pytestmark = pytest.mark.slow


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert res.returncode == 0, f"exit code {res.returncode}\n{res.stdout}\n{res.stderr[-5000:]}"
    return res


def table_rows(text: str) -> set[str]:
    """First words of the lines of a printed table block."""
    return {line.split()[0] for line in text.splitlines() if line.strip()}


def test_gpu_check_tiny_prints_every_method_for_both_models():
    out = run("benchmarks/gpu_check.py", "--tiny").stdout
    sections = {}
    for model in gpu_check.MODELS:
        head = f"\n{model} (tiny shapes):"
        assert head in out, out
        sections[model] = out.split(head, 1)[1].split("\n\n", 1)[0]
    for model, text in sections.items():
        rows = table_rows(text)
        missing = [m for m in gpu_check.METHODS if m not in rows]
        assert not missing, f"{model}: no row for {missing}\n{text}"
        assert "FAILED" not in text, text
        assert "generation:" in text and "tokens/s" in text, text


def test_step_cost_large_vocab_prints_every_method():
    args = [
        "--large-vocab",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--batch",
        "2",
        "--hidden",
        "64",
        "--layers",
        "2",
    ]
    out = run("benchmarks/step_cost.py", *args).stdout
    assert f"vocabulary {step_cost.LARGE_VOCAB:,}" in out
    assert step_cost.LARGE_VOCAB >= 150_000
    rows = table_rows(out)
    missing = [m for m in step_cost.LARGE_VOCAB_METHODS if m not in rows]
    assert not missing, f"no row for {missing}\n{out}"
    assert "one chunk" in out and "one micro-batch" in out and "SFT peak growth" in out, out
