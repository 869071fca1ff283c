rule base:
    input:
        data="results/{setting}/data",
    output:
        directory("results/{setting}/base"),
    log:
        "results/{setting}/logs/base.log",
    conda:
        CONDA_ENV
    threads: lambda wc: config[wc.setting]["base"]["mini"]["threads"]
    resources:
        **job_resources("base"),
    params:
        p=lambda wc: json.dumps(config[wc.setting]["base"]["mini"], sort_keys=True),
    shell:
        "selgen base {wildcards.setting} --params {params.p:q} "
        "--corpus {input.data}/pretrain.jsonl --out {output} 2> {log}"
