"""Investigation reports: one self-contained HTML file per replay.

``fraudwatch report PATH... --out report.html`` replays the inputs, keeps the records
compactly (:mod:`~fraudwatch.report.store`), and renders (:mod:`~fraudwatch.report.page`)
a summary, a sortable alerts table, an origins map, SIP ladders, and one section per
alert with its reason, evidence, timeline and records.
"""

from fraudwatch.report.build import ReportData, ReportResult, build_report, collect, render_summary

__all__ = ["ReportData", "ReportResult", "build_report", "collect", "render_summary"]
