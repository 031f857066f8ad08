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
    attempted = sum(doctest.testmod(importlib.import_module(n)).attempted for n in MODULES)
    assert attempted >= 50, attempted
