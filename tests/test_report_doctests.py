"""The report modules' docstring examples run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["store", "svg", "ladder", "countrymap", "masking", "sections", "build"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"fraudwatch.report.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
