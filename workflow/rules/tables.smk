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
    params:
        config=lambda wc: json.dumps(config, sort_keys=True),
        dirs=lambda wc: run_dirs(wc.setting),
    log:
        "results/{setting}/logs/tables.log",
    localrule: True
    shell:
        "{SELGEN} tables --config {params.config:q} --out results/tables/{wildcards.setting} "
        "{params.dirs} 2> {log}"


rule summary:
    input:
        "results/tables/{setting}/metrics.parquet",
    output:
        "results/tables/{setting}/summary.parquet",
    log:
        "results/{setting}/logs/summary.log",
    localrule: True
    shell:
        "{SELGEN} summary --metrics {input} --out {output} 2> {log}"


rule pareto:
    input:
        "results/tables/{setting}/summary.parquet",
    output:
        pdf="results/pareto_{setting}.pdf",
        png="results/pareto_{setting}.png",
    log:
        "results/{setting}/logs/pareto.log",
    localrule: True
    shell:
        "{SELGEN} plot {wildcards.setting} --summary {input} --out {output.pdf} --png {output.png} 2> {log}"
