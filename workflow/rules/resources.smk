# External inputs, fetched once on the submit host (local rules: compute nodes are often offline).


rule fetch:
    output:
        "resources/{path}",
    log:
        "resources/logs/fetch/{path}.log",
    wildcard_constraints:
        path=fetch_pattern(),
    localrule: True
    conda:
        CONDA_ENV
    params:
        url=lambda wc: fetch_spec(wc.path)["url"],
        check=lambda wc: " ".join(
            f"--{key.replace('_', '-')} {fetch_spec(wc.path)[key]}"
            for key in ("sha256", "git_blob")
            if fetch_spec(wc.path).get(key)
        ),
        validate=lambda wc: fetch_spec(wc.path).get("validate", "none"),
    shell:
        "selgen fetch --url {params.url:q} {params.check} --validate {params.validate} "
        "--out {output} 2> {log}"


rule fetch_model:  # every hub model the config names, once, into models.cache_dir
    output:
        directory(f"{config['models']['cache_dir']}/{{model}}"),
    log:
        "resources/logs/fetch_model/{model}.log",
    wildcard_constraints:
        model=hub_pattern(),
    localrule: True
    conda:
        CONDA_ENV
    params:
        source=lambda wc: (
            f"--source {config['models']['sources'][wc.model]}"
            if wc.model in config["models"]["sources"]
            else ""
        ),
    shell:
        "selgen fetch-model {wildcards.model:q} --out {output:q} {params.source} 2> {log}"


rule fetch_hhh:
    output:
        "resources/em/hhh_alignment.jsonl",
    log:
        "resources/logs/fetch/hhh_alignment.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "selgen fetch-hhh --out {output} 2> {log}"


if (
    "em" in config["settings"]
    and config["em"]["data"].get("task_file")
    and config["em"]["data"]["task_file"] not in fetch_specs()
):

    rule task_data:  # planned only while the file is missing: it stops the run with what to do
        output:
            config["em"]["data"]["task_file"],
        localrule: True
        params:
            path=config["em"]["data"]["task_file"],
        shell:
            "echo 'selgen: em task data missing: place the task JSONL (chat messages ending with the "
            "reply) at {params.path}; see the README, EM on real data.' >&2; exit 1"
