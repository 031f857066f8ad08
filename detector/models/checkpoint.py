"""Saving and restoring models: pickle (River objects pickle cleanly), written atomically.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "m.pkl"
>>> save({"a": 1}, path); load(path)
{'a': 1}
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any


def save(model: Any, path: str | Path) -> None:
    """Write ``model`` to ``path`` (a temporary file renamed into place: never half-written)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def load(path: str | Path) -> Any:
    """Read a model written by :func:`save` (only load checkpoints you wrote: it is pickle)."""
    with open(path, "rb") as fh:
        return pickle.load(fh)  # noqa: S301 - our own checkpoint files


class Checkpointable:
    """Mixin: ``model.save(path)`` and ``Model.load(path)``, refusing a file of another class."""

    def save(self, path: str | Path) -> None:
        save(self, path)

    @classmethod
    def load(cls, path: str | Path):
        model = load(path)
        if not isinstance(model, cls):
            raise TypeError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model
