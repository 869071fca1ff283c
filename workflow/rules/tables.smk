rule tables:
    input:
        lambda wc: [
            f"{d}/{f}"
            for d in run_dirs(wc.setting)
            for f in ("record.json", "metrics.parquet", "samples.parquet")
        ],
    output:
        runs=report(
            "results/tables/{setting}/runs.parquet",
            caption="../report/runs.rst",
            category="Tables",
            subcategory="{setting}",
            labels={"table": "runs", "format": "Parquet"},
        ),
        metrics=report(
            "results/tables/{setting}/metrics.parquet",
            caption="../report/metrics.rst",
            category="Tables",
            subcategory="{setting}",
            labels={"table": "metrics", "format": "Parquet"},
        ),
        samples="results/tables/{setting}/samples.parquet",
    log:
        "results/{setting}/logs/tables.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        config=lambda wc: provenance_config(wc.setting),
        dirs=lambda wc: run_dirs(wc.setting),
    shell:
        "HF_HUB_OFFLINE=1 selgen tables --config {params.config:q} --out results/tables/{wildcards.setting} "
        "{params.dirs} 2> {log}"


rule summary:
    input:
        "results/tables/{setting}/metrics.parquet",
    output:
        report(
            "results/tables/{setting}/summary.parquet",
            caption="../report/summary.rst",
            category="Tables",
            subcategory="{setting}",
            labels={"table": "summary", "format": "Parquet"},
        ),
    log:
        "results/{setting}/logs/summary.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "HF_HUB_OFFLINE=1 selgen summary --metrics {input} --out {output} 2> {log}"


rule pareto:
    input:
        "results/tables/{setting}/summary.parquet",
    output:
        pdf=report(
            "results/pareto_{setting}.pdf",
            caption="../report/pareto.rst",
            category="Figures",
            subcategory="{setting}",
            labels={"figure": "pareto", "format": "PDF"},
        ),
        png=report(
            "results/pareto_{setting}.png",
            caption="../report/pareto.rst",
            category="Figures",
            subcategory="{setting}",
            labels={"figure": "pareto", "format": "PNG"},
        ),
    log:
        "results/{setting}/logs/pareto.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        names=names_params,
    shell:
        "HF_HUB_OFFLINE=1 selgen plot {wildcards.setting} --summary {input} --out {output.pdf} "
        "--png {output.png} --names {params.names:q} 2> {log}"


rule figure:  # a setting's extra figures (Setting.figures): functions heatmap, em per-question bars
    input:
        "results/tables/{setting}/summary.parquet",
    output:
        pdf=report(
            "results/{kind}_{setting}.pdf",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{setting}",
            labels={"figure": "{kind}", "format": "PDF"},
        ),
        png=report(
            "results/{kind}_{setting}.png",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{setting}",
            labels={"figure": "{kind}", "format": "PNG"},
        ),
    log:
        "results/{setting}/logs/{kind}.log",
    wildcard_constraints:
        kind=extra_figures(),
    localrule: True
    conda:
        CONDA_ENV
    params:
        names=names_params,
    shell:
        "HF_HUB_OFFLINE=1 selgen plot {wildcards.setting} --kind {wildcards.kind} --summary {input} --out {output.pdf} "
        "--png {output.png} --names {params.names:q} 2> {log}"


rule organism:
    input:
        "results/tables/{setting}/metrics.parquet",
    output:
        report(
            "results/tables/{setting}/organism.json",
            caption="../report/organism.rst",
            category="Tables",
            subcategory="{setting}",
            labels={"table": "organism", "format": "JSON"},
        ),
    log:
        "results/{setting}/logs/organism.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "HF_HUB_OFFLINE=1 selgen organism {wildcards.setting} --metrics {input} --out {output} > {log} 2>&1"


rule pilot_setting:  # a paper config's first look: the base and one run of the baseline method, one seed
    input:
        pilot_metrics,
    output:
        "results/pilot_{setting}.json",
    log:
        "results/{setting}/logs/pilot.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "HF_HUB_OFFLINE=1 selgen organism {wildcards.setting} --pilot --metrics {input:q} --out {output} "
        "> {log} 2>&1; cat {log}"


rule pilot:  # `snakemake --configfile config/paper_em.yaml --profile slurm pilot` (docs/paper.md, "Pilot")
    input:
        [f"results/pilot_{s}.json" for s in config["settings"]],
    localrule: True
