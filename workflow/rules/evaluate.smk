rule evaluate:
    input:
        data="results/{setting}/data",
        model=RUN + "/model",
    output:
        samples=RUN + "/samples.parquet",
        metrics=RUN + "/metrics.parquet",
    params:
        p=eval_params,
    threads: config["threads"]
    log:
        "results/{setting}/logs/evaluate/{method}/{hp}/seed{seed}.log",
    shell:
        "{SELGEN} evaluate {wildcards.setting} --params {params.p:q} --model {input.model} "
        "--data {input.data} --samples {output.samples} --metrics {output.metrics} 2> {log}"


rule evaluate_base:
    input:
        data="results/{setting}/data",
        base=base_input,
    output:
        samples=BASE_RUN + "/samples.parquet",
        metrics=BASE_RUN + "/metrics.parquet",
        record=BASE_RUN + "/record.json",
    params:
        p=lambda wc: eval_params(wc, method="base", hp="default", seed=0),
        base=lambda wc: base_model(wc.setting),
    threads: config["threads"]
    log:
        "results/{setting}/logs/evaluate/base.log",
    shell:
        "{SELGEN} evaluate {wildcards.setting} --params {params.p:q} --model {params.base} "
        "--data {input.data} --samples {output.samples} --metrics {output.metrics} "
        "--record {output.record} 2> {log}"
