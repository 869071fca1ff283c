rule base:
    input:
        data="results/{setting}/data",
    output:
        directory("results/{setting}/base"),
    log:
        "results/{setting}/logs/base.log",
    wildcard_constraints:
        setting=base_rule_pattern(stage=False),
    priority: 10  # the head of every run of its setting: start it before other settings' runs
    conda:
        CONDA_ENV
    threads: lambda wc: config[wc.setting]["base"]["mini"]["threads"]
    resources:
        **job_resources("base"),
    params:
        p=base_params,
    shell:
        "HF_HUB_OFFLINE=1 selgen base {wildcards.setting} --params {params.p:q} "
        "--corpus {input.data}/pretrain.jsonl --out {output} 2> {log}"


rule base_stage:  # a hub model trained on the setting's base data, LoRA merged: what every run starts from
    input:
        data="results/{setting}/data",
        start=stage_start_input,
    output:
        directory("results/{setting}/base"),
    log:
        "results/{setting}/logs/base_stage.log",
    wildcard_constraints:
        setting=base_rule_pattern(stage=True),
    priority: 10
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        **job_resources("base_stage"),
    params:
        p=base_stage_params,
        start=lambda wc: model_path(config[wc.setting]["base"]["model"]),
    shell:
        "HF_HUB_OFFLINE=1 selgen base-stage {wildcards.setting} --params {params.p:q} "
        "--data {input.data} --model {params.start:q} --out {output} 2> {log}"
