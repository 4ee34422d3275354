"""Write ``report.html``, ``report.json`` and ``bias_statement.md`` into a run folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fairframe._io import atomic_write
from fairframe.errors import ConfigError
from fairframe.report._data import data_from_run
from fairframe.report._load import read_run
from fairframe.report._thumbs import encode_thumbnails
from fairframe.report.html import render_html
from fairframe.report.markdown import render_bias_statement

__all__ = ["ReportFiles", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    """The files :func:`write_report` wrote.

    Attributes
    ----------
    html:
        ``RUN_DIR/report.html``: the self-contained page.
    json:
        ``RUN_DIR/report.json``: the data behind the page.
    markdown:
        ``RUN_DIR/bias_statement.md``: a bias statement for a model card.
    """

    html: Path
    json: Path
    markdown: Path


def write_report(run_dir: str | Path, *, max_thumbnails_per_class: int = 8,
                 thumbnail_size: int = 96) -> ReportFiles:
    """Write the report of an audit run into its folder.

    Parameters
    ----------
    run_dir:
        A folder written by ``fairframe audit run CONFIG --out RUN_DIR``.
    max_thumbnails_per_class:
        Images shown per (bias, class), ``unknown`` included; 0 shows none.
    thumbnail_size:
        Longest side of the embedded JPEG thumbnails, in pixels (images are never enlarged).

    Returns
    -------
    ReportFiles
        Paths of ``report.html``, ``report.json`` and ``bias_statement.md``.

    Raises
    ------
    fairframe.errors.InputDataError
        ``manifest.json`` or ``scores.json`` is missing or unreadable, or ``answers.parquet`` is
        corrupt. Missing images are not an error: they get placeholders.
    fairframe.errors.ConfigError
        A parameter is out of range.
    """
    if max_thumbnails_per_class < 0:
        raise ConfigError(
            f"max_thumbnails_per_class must be >= 0, got {max_thumbnails_per_class}")
    if not 16 <= thumbnail_size <= 1024:
        raise ConfigError(f"thumbnail_size must be between 16 and 1024, got {thumbnail_size}")
    run = read_run(run_dir)
    data = data_from_run(run, max_thumbnails_per_class=max_thumbnails_per_class)
    paths = [item["image_path"] for b in data["biases"] for grp in (b["images"] or {}).values()
             for item in grp["shown"] if item["image_path"]]
    thumbs = encode_thumbnails(run.path, paths, thumbnail_size)
    missing = sorted(p for p, t in thumbs.items() if t.data_uri is None)
    if missing:
        data["warnings"].append(
            f"{len(missing)} image(s) could not be embedded (missing or unreadable), e.g. "
            f"{missing[0]}; they are shown as placeholders")
    files = ReportFiles(run.path / "report.html", run.path / "report.json",
                        run.path / "bias_statement.md")
    atomic_write(files.json, json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False))
    atomic_write(files.html, render_html(data, thumbs, thumbnail_size=thumbnail_size))
    atomic_write(files.markdown, render_bias_statement(data))
    return files
