"""fraudwatch application layer: command line, replay orchestration, simulator, reports."""

__version__ = "0.1.0"
