"""A population model of line behaviour: how unusual is this line's calling window?

One :class:`river.anomaly.HalfSpaceTrees` forest for all lines (not a model per line)
learns what ordinary calling windows look like and scores a window in ``[0, 1]``
(higher = more anomalous). The voip_box detector feeds it the features of its sliding
window and compares the score with the ``model_threshold`` of its rule: scoring is kept
apart from deciding.

The features are bounded by construction (shares in ``[0, 1]``, counts capped), so the
trees use fixed ``limits`` rather than a running min-max scaler: a single extreme line
cannot stretch the scale and silently change every later score.

>>> m = LinePopulationModel(seed=1)
>>> ordinary = dict(calls=0.1, distinct=1.0, failed=0.3, new_destinations=0.0, odd_hour=0.0,
...                 busy_inbound=0.0, over_baseline=0.1)
>>> for _ in range(300):
...     m.learn_one(ordinary)
>>> box = dict(calls=1.0, distinct=1.0, failed=0.8, new_destinations=0.7, odd_hour=1.0,
...            busy_inbound=1.0, over_baseline=1.0)
>>> m.score_one(box) > m.score_one(ordinary)
True
"""

from __future__ import annotations

from river import anomaly

from detector.models import checkpoint

FEATURES = ("calls", "distinct", "failed", "new_destinations", "odd_hour", "busy_inbound",
            "over_baseline")


class LinePopulationModel(checkpoint.Checkpointable):
    """Half-space trees over a line's window features (every feature in ``[0, 1]``).

    Parameters
    ----------
    n_trees, height, window_size
        As :class:`river.anomaly.HalfSpaceTrees`.
    seed
        For reproducible trees (same input, same scores).
    """

    def __init__(self, n_trees: int = 10, height: int = 8, window_size: int = 250,
                 seed: int | None = 42) -> None:
        self.forest = anomaly.HalfSpaceTrees(n_trees=n_trees, height=height,
                                             window_size=window_size,
                                             limits={f: (0.0, 1.0) for f in FEATURES}, seed=seed)
        self.learned = 0

    def learn_one(self, x: dict[str, float]) -> None:
        self.forest.learn_one(x)
        self.learned += 1

    def score_one(self, x: dict[str, float]) -> float:
        """Anomaly score in ``[0, 1]``; 0 until the trees have seen one reference window."""
        if self.learned < self.forest.window_size:
            return 0.0
        return float(self.forest.score_one(x))
