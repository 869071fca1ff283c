rule evaluate:
    input:
        data="results/{setting}/data",
        model=f"{RUN}/model",
    output:
        samples=f"{RUN}/samples.parquet",
        metrics=f"{RUN}/metrics.parquet",
    log:
        "results/{setting}/logs/evaluate/{method}/{hp}/seed{seed}.log",
    wildcard_constraints:
        setting=settings_pattern(judge=False),
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        **job_resources("evaluate"),
    params:
        p=eval_params,
    shell:
        "HF_HUB_OFFLINE=1 selgen evaluate {wildcards.setting} --params {params.p:q} --model {input.model} "
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
    wildcard_constraints:
        setting=settings_pattern(judge=False),
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        **job_resources("evaluate"),
    params:
        p=lambda wc: eval_params(wc, method="base", hp="default", seed=0),
        base=lambda wc: base_model(wc.setting),
    shell:
        "HF_HUB_OFFLINE=1 selgen evaluate {wildcards.setting} --params {params.p:q} --model {params.base} "
        "--data {input.data} --samples {output.samples} --metrics {output.metrics} "
        "--record {output.record} 2> {log}"


# Settings scored by an LLM judge (em on real data): generation on the cluster, judging on the submit host.
rule generate:
    input:
        data="results/{setting}/data",
        model=f"{RUN}/model",
    output:
        f"{RUN}/replies.parquet",
    log:
        "results/{setting}/logs/generate/{method}/{hp}/seed{seed}.log",
    wildcard_constraints:
        setting=settings_pattern(judge=True),
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        **job_resources("evaluate"),
    params:
        p=eval_params,
    shell:
        "HF_HUB_OFFLINE=1 selgen evaluate {wildcards.setting} --params {params.p:q} --model {input.model} "
        "--data {input.data} --replies {output} 2> {log}"


rule generate_base:
    input:
        data="results/{setting}/data",
        base=base_input,
    output:
        replies=f"{BASE_RUN}/replies.parquet",
        record=f"{BASE_RUN}/record.json",
    log:
        "results/{setting}/logs/generate/base.log",
    wildcard_constraints:
        setting=settings_pattern(judge=True),
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        **job_resources("evaluate"),
    params:
        p=lambda wc: eval_params(wc, method="base", hp="default", seed=0),
        base=lambda wc: base_model(wc.setting),
    shell:
        "HF_HUB_OFFLINE=1 selgen evaluate {wildcards.setting} --params {params.p:q} --model {params.base} "
        "--data {input.data} --replies {output.replies} --record {output.record} 2> {log}"


rule judge:
    input:
        "results/{setting}/runs/{run}/replies.parquet",
    output:
        samples="results/{setting}/runs/{run}/samples.parquet",
        metrics="results/{setting}/runs/{run}/metrics.parquet",
    log:
        "results/{setting}/logs/judge/{run}.log",
    wildcard_constraints:
        setting=settings_pattern(judge=True),
        run=r"[^/]+/[^/]+/seed\d+",
    retries: 2  # the API's own flakiness, beyond the client's retries
    localrule: True
    conda:
        CONDA_ENV
    params:
        p=lambda wc: json.dumps(
            {"judge": config[wc.setting]["eval"].get("judge")}, sort_keys=True
        ),
    shell:
        "selgen judge {wildcards.setting} --params {params.p:q} --replies {input} "
        "--samples {output.samples} --metrics {output.metrics} 2> {log}"
