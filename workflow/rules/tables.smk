rule tables:
    input:
        lambda wc: [
            f"{d}/{f}"
            for d in run_dirs(wc.setting)
            for f in ("record.json", "metrics.parquet", "samples.parquet")
        ],
    output:
        runs="results/tables/{setting}/runs.parquet",
        metrics="results/tables/{setting}/metrics.parquet",
        samples="results/tables/{setting}/samples.parquet",
    log:
        "results/{setting}/logs/tables.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        config=lambda wc: json.dumps(config, sort_keys=True),
        dirs=lambda wc: run_dirs(wc.setting),
    shell:
        "selgen tables --config {params.config:q} --out results/tables/{wildcards.setting} "
        "{params.dirs} 2> {log}"


rule summary:
    input:
        "results/tables/{setting}/metrics.parquet",
    output:
        "results/tables/{setting}/summary.parquet",
    log:
        "results/{setting}/logs/summary.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "selgen summary --metrics {input} --out {output} 2> {log}"


rule pareto:
    input:
        "results/tables/{setting}/summary.parquet",
    output:
        pdf="results/pareto_{setting}.pdf",
        png="results/pareto_{setting}.png",
    log:
        "results/{setting}/logs/pareto.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "selgen plot {wildcards.setting} --summary {input} --out {output.pdf} --png {output.png} 2> {log}"


rule figure:  # the other figures of a setting (FIGURES in common.smk): functions heatmap, em per-question bars
    input:
        "results/tables/{setting}/summary.parquet",
    output:
        pdf="results/{kind}_{setting}.pdf",
        png="results/{kind}_{setting}.png",
    log:
        "results/{setting}/logs/{kind}.log",
    wildcard_constraints:
        kind="heatmap|questions",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "selgen plot {wildcards.setting} --kind {wildcards.kind} --summary {input} --out {output.pdf} "
        "--png {output.png} 2> {log}"


rule organism:
    input:
        "results/tables/{setting}/metrics.parquet",
    output:
        "results/tables/{setting}/organism.json",
    log:
        "results/{setting}/logs/organism.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "selgen organism {wildcards.setting} --metrics {input} --out {output} > {log} 2>&1"
