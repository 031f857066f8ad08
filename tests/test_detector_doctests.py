"""The runnable examples in the detector's docstrings (River style) hold."""

import doctest
import importlib
import pkgutil

import pytest

import detector

MODULES = sorted(m.name for m in pkgutil.walk_packages(detector.__path__, "detector."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


def test_the_examples_are_there():
    # counted, not run again: test_docstring_examples runs them
    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for n in MODULES
                   for t in finder.find(importlib.import_module(n)))
    assert examples >= 50, examples
