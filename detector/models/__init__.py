"""Online (River) models used by the detectors and the engine.

One concept per module: :mod:`~detector.models.population` scores a line's calling
window against the whole population (voip_box), :mod:`~detector.models.baseline` keeps
a number's own light baseline statistics, :mod:`~detector.models.reranker` learns from
analysts' ``confirmed`` / ``dismissed`` verdicts to re-rank alerts, and
:mod:`~detector.models.checkpoint` saves and restores any of them.
"""
