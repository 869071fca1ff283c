rule data:
    input:
        data_inputs,
    output:
        directory("results/{setting}/data"),
    log:
        "results/{setting}/logs/data.log",
    localrule: True  # seconds of CPU work: a queue wait would cost more than the job
    conda:
        CONDA_ENV
    params:
        p=data_params,
        version=lambda wc: SETTINGS[wc.setting].version_of(config[wc.setting]),  # a builder change re-plans
    shell:
        "HF_HUB_OFFLINE=1 selgen data {wildcards.setting} --params {params.p:q} --out {output} 2> {log}"
