"""Reports of an audit run: one self-contained HTML page, its data as JSON, and a Markdown bias
statement for a model card.

>>> from fairframe.report import write_report        # doctest: +SKIP
>>> files = write_report("runs/tiny")                # doctest: +SKIP
>>> files.html, files.json, files.markdown           # doctest: +SKIP

``report.html`` opens from disk with no network: inline CSS and scripts, inline SVG charts, JPEG
thumbnails as ``data:`` URIs. It ranks the biases by (floor-corrected, where available)
context-free severity with interval bars, shows each bias's distribution overall and per caption,
images per class, intersectional tables, what was not scored, the run manifest and how to read
each number. ``report.json`` is :func:`build_report_data`'s output; ``bias_statement.md`` is
:func:`render_bias_statement`'s.
"""

from fairframe.report._data import REPORT_SCHEMA_VERSION, build_report_data
from fairframe.report._thumbs import Thumbnail
from fairframe.report._write import ReportFiles, write_report
from fairframe.report.html import render_html
from fairframe.report.markdown import render_bias_statement

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "ReportFiles",
    "Thumbnail",
    "build_report_data",
    "render_bias_statement",
    "render_html",
    "write_report",
]
