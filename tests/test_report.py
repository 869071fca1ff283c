"""``snakemake --report``: the tiny workflow, run to the end, then its self-contained HTML report."""

import base64
import json
import re
from pathlib import Path

import pytest
from test_workflow import snakemake

pytestmark = pytest.mark.slow

FIGURES = {"results/pareto_gcd.pdf": "application/pdf", "results/pareto_gcd.png": "image/png"}
# the setting's extra figures (Setting.figures: gcd's standard vs conditional sycophancy)
EXTRA = ["results/conditional_gcd.pdf", "results/conditional_gcd.png"]
TABLES = [f"results/tables/gcd/{t}" for t in ("summary.parquet", "metrics.parquet", "runs.parquet")]
ORGANISM = "results/tables/gcd/organism.json"


def report_var(html: str, name: str):
    """The JSON value the report assigns to ``var <name>`` (in a script of its own)."""
    m = re.search(rf'<script id="[\w-]+">\s*var {name} = ', html)
    assert m, f"no {name} in the report"
    return json.JSONDecoder().raw_decode(html, m.end())[0]


def payload(entry: dict) -> bytes:
    """The bytes of an embedded result (a base64 data URI)."""
    head, data = entry["data_uri"].split(",", 1)
    assert head.startswith("data:") and head.endswith(";base64")
    return base64.b64decode(data)


@pytest.fixture(scope="module")
def report_html(finished) -> tuple[Path, str]:
    """``snakemake --report report.html`` in the folder of the tiny workflow's finished run."""
    wd = finished
    res = snakemake(wd, "--report", "report.html")
    assert res.returncode == 0, res.stderr[-5000:]
    assert "Could not detect mimetype" not in res.stderr + res.stdout  # Parquet has one (common.smk)
    path = wd / "report.html"
    return wd, path.read_text()


def test_report_lists_the_figures_and_tables_by_category_and_setting(report_html):
    _, html = report_html
    assert report_var(html, "categories") == {
        "Figures": {"gcd": sorted([*FIGURES, *EXTRA])},
        "Tables": {"gcd": sorted([*TABLES, ORGANISM])},
    }
    # the per-sample generations stay out of the report (they grow with the evaluation sets)
    assert "results/tables/gcd/samples.parquet" not in report_var(html, "results")


def test_report_embeds_the_figures_with_captions_and_labels(report_html):
    wd, html = report_html
    results = report_var(html, "results")
    for path, mime in FIGURES.items():
        entry = results[path]
        assert entry["mime_type"] == mime
        assert payload(entry) == (wd / path).read_bytes()  # embedded, the report stands alone
        assert entry["labels"] == {"figure": "pareto", "format": mime.split("/")[1].upper()}
        assert entry["job_properties"]["rule"] == "pareto"
        assert "Pareto plot of setting <strong>gcd</strong>" in entry["caption"]


def test_report_embeds_the_tables_as_downloads(report_html):
    wd, html = report_html
    results = report_var(html, "results")
    for path in [*TABLES, ORGANISM]:
        entry = results[path]
        assert payload(entry) == (wd / path).read_bytes()
        name = Path(path).name
        assert entry["name"] == name and entry["labels"]["table"] == name.split(".")[0]
        assert "<strong>gcd</strong>" in entry["caption"]
    assert results[ORGANISM]["mime_type"] == "application/json"
    assert results[TABLES[0]]["job_properties"]["rule"] == "summary"
    assert "seed-aggregated" in results[TABLES[0]]["caption"].lower()


def test_report_carries_the_workflow_description(report_html):
    _, html = report_html
    desc = report_var(html, "workflow_desc")
    assert "Selective-generalization sweeps" in desc and "setting(s)\ngcd (seeds 1, 2)." in desc
