rule train:
    input:
        data="results/{setting}/data",
        base=base_input,
        directions=caft_input,
        unaligned=unaligned_input,
    output:
        model=directory(f"{RUN}/model"),
        record=f"{RUN}/record.json",
    log:
        "results/{setting}/logs/train/{method}/{hp}/seed{seed}.log",
    wildcard_constraints:
        method="|".join(METHODS),  # not the untuned base (rule base_run)
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        **job_resources("train"),
    params:
        p=train_params,
        base=lambda wc: base_model(wc.setting),
        directions=lambda wc, input: (
            f"--directions {input.directions}" if input.directions else ""
        ),
        unaligned=lambda wc, input: (
            f"--unaligned {input.unaligned}" if input.unaligned else ""
        ),
    shell:
        "HF_HUB_OFFLINE=1 {SELGEN} train {wildcards.setting} --params {params.p:q} "
        "--data {input.data} --base {params.base} --out {output.model} "
        "--record {output.record} {params.directions} {params.unaligned} 2> {log}"


rule caft_directions:
    input:
        data="results/{setting}/data",
        base=base_input,
        tuned=lambda wc: f"results/{wc.setting}/runs/task_only/default/seed{seeds_of(config, wc.setting)[0]}/model",
    output:
        "results/{setting}/caft/{control}.pt",
    log:
        "results/{setting}/logs/caft_{control}.log",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        **job_resources("caft_directions"),
    params:
        p=caft_params,
        base=lambda wc: base_model(wc.setting),
    shell:
        "HF_HUB_OFFLINE=1 {SELGEN} caft-directions {wildcards.setting} --params {params.p:q} --data {input.data} "
        "--base {params.base} --tuned {input.tuned} --out {output} 2> {log}"
