"""The hand-computed examples in the docstrings of fairframe.stats are tests too."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "fairframe.stats._validate",
    "fairframe.stats.bootstrap",
    "fairframe.stats.confusion",
    "fairframe.stats.floors",
    "fairframe.stats.intersection",
    "fairframe.stats.intervals",
    "fairframe.stats.metrics",
    "fairframe.stats.power",
    "fairframe.stats.sequential",
    "fairframe.stats.severity",
    "fairframe.stats.significance",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
