rule evaluate:
    input:
        data="results/{setting}/data",
        model=f"{RUN}/model",
    output:
        samples=f"{RUN}/samples.parquet",
        metrics=f"{RUN}/metrics.parquet",
    log:
        "results/{setting}/logs/evaluate/{method}/{hp}/seed{seed}.log",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        **job_resources("evaluate"),
    params:
        p=eval_params,
    shell:
        "selgen evaluate {wildcards.setting} --params {params.p:q} --model {input.model} "
        "--data {input.data} --samples {output.samples} --metrics {output.metrics} 2> {log}"


rule evaluate_base:
    input:
        data="results/{setting}/data",
        base=base_input,
    output:
        samples=f"{BASE_RUN}/samples.parquet",
        metrics=f"{BASE_RUN}/metrics.parquet",
        record=f"{BASE_RUN}/record.json",
    log:
        "results/{setting}/logs/evaluate/base.log",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        **job_resources("evaluate"),
    params:
        p=lambda wc: eval_params(wc, method="base", hp="default", seed=0),
        base=lambda wc: base_model(wc.setting),
    shell:
        "selgen evaluate {wildcards.setting} --params {params.p:q} --model {params.base} "
        "--data {input.data} --samples {output.samples} --metrics {output.metrics} "
        "--record {output.record} 2> {log}"
