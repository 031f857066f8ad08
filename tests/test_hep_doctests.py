"""The runnable examples in the docstrings of the HEP, live-capture and inspect modules."""

from __future__ import annotations

import doctest

import pytest

import capture.hep
import capture.hepcollector
import capture.live
import fraudwatch.inspect


@pytest.mark.parametrize("module", [capture.hep, capture.hepcollector, capture.live,
                                    fraudwatch.inspect], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
