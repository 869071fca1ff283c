# One evaluation per run, the untuned base included (the run base/default/seed0 of rule base_run). Settings
# scored by an LLM judge (em on real data) generate replies on the cluster and judge them on the submit host.


rule base_run:  # the untuned base as a run: a model folder that points at the base, a record without steps
    input:
        base=base_input,
    output:
        model=directory(f"{BASE_RUN}/model"),
        record=f"{BASE_RUN}/record.json",
    log:
        "results/{setting}/logs/base_run.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        p=base_run_params,
        base=lambda wc: base_model(wc.setting),
    shell:
        "selgen base-run {wildcards.setting} --params {params.p:q} --base {params.base} "
        "--out {output.model} --record {output.record} 2> {log}"


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


# em.eval.backend vllm (docs/vllm.md): the same job runs vLLM. Its cluster request is resources.evaluate: GPU
# memory for weights plus KV cache (em.eval.vllm.gpu_memory_utilization takes that share of the card) and
# cpus_per_task (vLLM's scheduler, tokenizer and engine process; 8 or more), in the run's SLURM job.
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


rule judge_batch:  # judge api `batch`: the setting's uncached judge requests through the Batch API, resumable
    input:
        judged_replies,
    output:
        "results/{setting}/judge_batch/done.json",
    log:
        "results/{setting}/logs/judge_batch.log",
    wildcard_constraints:
        setting=settings_pattern(judge=True),
    localrule: True
    conda:
        CONDA_ENV
    params:
        p=judge_params,
        state="results/{setting}/judge_batch/state",  # batch files and ids: kept when the job is killed
    shell:
        "selgen judge batch {wildcards.setting} --params {params.p:q} --replies {input:q} "
        "--state {params.state} --out {output} 2> {log}"


rule judge:
    input:
        replies=f"{RUN}/replies.parquet",
        batch=judge_batch_input,
    output:
        samples=f"{RUN}/samples.parquet",
        metrics=f"{RUN}/metrics.parquet",
        costs=f"{RUN}/judge.json",
    log:
        "results/{setting}/logs/judge/{method}/{hp}/seed{seed}.log",
    wildcard_constraints:
        setting=settings_pattern(judge=True),
    localrule: True  # compute nodes often cannot reach the judge's endpoint
    conda:
        CONDA_ENV
    params:
        p=judge_params,
    shell:
        "selgen judge score {wildcards.setting} --params {params.p:q} --replies {input.replies} "
        "--samples {output.samples} --metrics {output.metrics} --costs {output.costs} 2> {log}"
