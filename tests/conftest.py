"""Fixtures shared by test modules."""

import pytest


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """The tiny workflow (tests/config_tiny), run to the end once per session; tests only read it (dry runs,
    reports), so they can share it."""
    from test_workflow import snakemake

    wd = tmp_path_factory.mktemp("tiny")
    res = snakemake(wd, "--cores", "2")
    assert res.returncode == 0, res.stderr[-5000:]
    return wd
