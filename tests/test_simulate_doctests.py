"""The runnable examples in the simulator's and evaluator's docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["fraudwatch.simulate.phonebook", "fraudwatch.simulate.rhythm",
           "fraudwatch.simulate.population", "fraudwatch.simulate.tables",
           "fraudwatch.simulate.texts", "fraudwatch.simulate.background",
           "fraudwatch.simulate.events", "fraudwatch.simulate.writers",
           "fraudwatch.simulate.scenarios", "fraudwatch.simulate.negatives",
           "fraudwatch.simulate.sippcap", "fraudwatch.simulate.simulation",
           "fraudwatch.evaluate"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no runnable example"
    assert result.failed == 0
