rule base:
    input:
        data="results/{setting}/data",
    output:
        directory("results/{setting}/base"),
    params:
        p=lambda wc: json.dumps(config[wc.setting]["base"]["mini"], sort_keys=True),
    threads: lambda wc: config[wc.setting]["base"]["mini"]["threads"]
    log:
        "results/{setting}/logs/base.log",
    shell:
        "{SELGEN} base {wildcards.setting} --params {params.p:q} "
        "--corpus {input.data}/pretrain.jsonl --out {output} 2> {log}"
