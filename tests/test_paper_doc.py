"""docs/paper.md states, for each setting, our value of every item beside the authors'. Where it names a
config key (a code span `setting.key.path: value` in the "ours" column), that value must be what the setting's
paper config (named in the section heading, with the schema's defaults filled in) really holds."""

import math
import re
from pathlib import Path

import pytest
import yaml

from selgen.config import validate

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "paper.md"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
CLAIM = re.compile(r"`((?:gcd|em|functions|models|seeds|resources)(?:\.[A-Za-z0-9_]+)*): ([^`]+)`")
SECTION = re.compile(r"^## (\w+) .*`(config/paper_\w+\.yaml)`", re.M)


def sections() -> list[tuple[str, str, str]]:
    """(setting, config file, section text) for every setting section of the document."""
    text = DOC.read_text(encoding="utf-8")
    found = list(SECTION.finditer(text))
    ends = [m.start() for m in found[1:]] + [len(text)]
    return [(m.group(1), m.group(2), text[m.end() : end]) for m, end in zip(found, ends, strict=True)]


def claims(section: str) -> list[tuple[str, str]]:
    """(key, stated value) from the "ours" column (the third) of every table row."""
    out = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and line.lstrip().startswith("|") and not set(cells[0]) <= set("-: "):
            out += CLAIM.findall(cells[2])
    return out


def lookup(config: dict, key: str):
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def same(stated, actual) -> bool:
    if isinstance(stated, int | float) and isinstance(actual, int | float) and not isinstance(stated, bool):
        return math.isclose(float(stated), float(actual), rel_tol=1e-9)
    if isinstance(stated, list) and isinstance(actual, list):
        return len(stated) == len(actual) and all(same(a, b) for a, b in zip(stated, actual, strict=True))
    if isinstance(stated, dict) and isinstance(actual, dict):
        return stated.keys() <= actual.keys() and all(same(v, actual[k]) for k, v in stated.items())
    return stated == actual


def test_the_document_covers_every_paper_setting():
    assert {s for s, _, _ in sections()} == {"gcd", "em", "functions"}


@pytest.mark.parametrize("setting", ["gcd", "em", "functions"])
def test_stated_values_are_the_paper_configs(setting):
    ((_, path, section),) = [s for s in sections() if s[0] == setting]
    config = yaml.safe_load((ROOT / path).read_text())
    validate(config, SCHEMA)
    stated = claims(section)
    rows = [line for line in section.splitlines() if line.lstrip().startswith("|")]
    assert len(stated) >= 15 and len(stated) >= len(rows) // 2, (
        "most rows should name the config key they state"
    )
    wrong = []
    for key, value in stated:
        try:
            actual = lookup(config, key)
        except KeyError:
            wrong.append(f"{key}: not in {path}")
            continue
        if not same(yaml.safe_load(value), actual):
            wrong.append(f"{key}: the document says {value}, {path} has {actual!r}")
    assert not wrong, "\n".join(wrong)
