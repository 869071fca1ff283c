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


rule setting_resource:  # a file a setting's own tool writes (Setting.resources: em's HHH download)
    output:
        "{path}",
    log:
        "resources/logs/setting_resource/{path}.log",
    wildcard_constraints:
        path="|".join(re.escape(p) for p in setting_resources()) or "(?!)",
    localrule: True
    conda:
        CONDA_ENV
    params:
        setting=lambda wc: setting_resources()[wc.path][0],
        tool=lambda wc: setting_resources()[wc.path][1],
    shell:
        "selgen {params.setting} {params.tool} --out {output} 2> {log}"


rule place_input:  # a data file the config names that no rule makes: planned only while it is missing
    output:
        "{path}",
    log:
        "resources/logs/place_input/{path}.log",
    wildcard_constraints:
        path="|".join(re.escape(p) for p in placed_inputs()) or "(?!)",
    localrule: True
    conda:
        CONDA_ENV
    params:
        key=lambda wc: placed_inputs()[wc.path],
    shell:
        "echo 'selgen: missing input {output} (config key {params.key}): place the file there; the README "
        "says what it holds (e.g. EM on real data: the task JSONL, chat messages ending with the reply).' "
        "| tee {log} >&2; exit 1"
