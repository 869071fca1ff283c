rule train:
    input:
        data="results/{setting}/data",
        base=base_input,
    output:
        model=directory(f"{RUN}/model"),
        record=f"{RUN}/record.json",
    log:
        "results/{setting}/logs/train/{method}/{hp}/seed{seed}.log",
    conda:
        CONDA_ENV
    threads: config["threads"]
    params:
        p=train_params,
        base=lambda wc: base_model(wc.setting),
    shell:
        "selgen train {wildcards.setting} --params {params.p:q} --data {input.data} "
        "--base {params.base} --out {output.model} --record {output.record} 2> {log}"
