rule train:
    input:
        data="results/{setting}/data",
        base=base_input,
    output:
        model=directory(RUN + "/model"),
        record=RUN + "/record.json",
    params:
        p=train_params,
        base=lambda wc: base_model(wc.setting),
    threads: config["threads"]
    log:
        "results/{setting}/logs/train/{method}/{hp}/seed{seed}.log",
    shell:
        "{SELGEN} train {wildcards.setting} --params {params.p:q} --data {input.data} "
        "--base {params.base} --out {output.model} --record {output.record} 2> {log}"
