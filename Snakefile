# selgen: selective-generalization sweeps. Thin on purpose: config, validation, includes; logic lives in
# the `selgen` package (src/selgen), which every rule calls through one `selgen <stage>` command.
from snakemake.utils import min_version

min_version("9.0")


# The mini default, unless a --configfile is given (it would merge into the default key by key, so a
# paper-scale file would inherit the mini sweep); --config KEY=VALUE overrides keys on top of either.
if not workflow.config_settings.configfiles:

    configfile: f"{workflow.basedir}/config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/base.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"


rule all:
    default_target: True
    input:
        final_targets(),
