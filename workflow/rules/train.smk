rule train:
    input:
        data="results/{setting}/data",
        base=base_input,
        method=lambda wc: list(method_inputs(wc).values()),
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
        inputs=lambda wc: " ".join(
            f"--input {name}={path}" for name, path in method_inputs(wc).items()
        ),
    shell:
        "HF_HUB_OFFLINE=1 selgen train {wildcards.setting} --params {params.p:q} "
        "--data {input.data} --base {params.base} --out {output.model} "
        "--record {output.record} {params.inputs} 2> {log}"


rule artifact:  # a method's file built once per setting (MethodSpec.artifact: CAFT's concept directions)
    input:
        data="results/{setting}/data",
        base=base_input,
        tuned=lambda wc: f"results/{wc.setting}/runs/task_only/default/seed{seeds_of(config, wc.setting)[0]}/model",
    output:
        artifact_path("{setting}", "{method}", "{name}"),
    log:
        "results/{setting}/logs/artifacts/{method}/{name}.log",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        **job_resources("artifact"),
    params:
        p=artifact_params,
        base=lambda wc: base_model(wc.setting),
    shell:
        "HF_HUB_OFFLINE=1 selgen artifact {wildcards.setting} {wildcards.method} --name {wildcards.name} "
        "--params {params.p:q} --data {input.data} --base {params.base} --tuned {input.tuned} --out {output} "
        "2> {log}"
