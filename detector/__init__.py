"""fraudwatch detector: turns records into alerts and metrics.

Nothing in this package knows about packets, CSV rows or HEP frames: it sees only
the four record kinds of :mod:`detector.records`.
"""
