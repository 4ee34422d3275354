"""write_report and the HTML page: rows, order, escaping, thumbnails, placeholders, offline-ness."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from fairframe.errors import ConfigError
from fairframe.report import ReportFiles, build_report_data, render_html, write_report
from fairframe.report._assets import csp_hash
from tests.report._page import parse_page
from tests.report.conftest import (
    HOSTILE,
    ScoresEditor,
    add_statistics,
    make_insufficient,
    strip_statistics,
)


def _page(files: ReportFiles) -> str:
    return files.html.read_text(encoding="utf-8")


def test_writes_three_files_and_one_row_per_bias_in_rank_order(run_dir: Path) -> None:
    files = write_report(run_dir)
    assert files == ReportFiles(run_dir / "report.html", run_dir / "report.json",
                                run_dir / "bias_statement.md")
    assert all(p.is_file() for p in (files.html, files.json, files.markdown))
    report = json.loads(files.json.read_text(encoding="utf-8"))
    page = parse_page(_page(files))
    assert page.bias_rows == [b["bias_id"] for b in report["biases"]]
    assert len(page.bias_rows) == len(set(page.bias_rows))
    scores = json.loads((run_dir / "scores.json").read_text())
    assert sorted(page.bias_rows) == sorted(b["bias_id"] for b in scores["biases"])


def test_hostile_caption_is_inert(run_dir: Path) -> None:
    html = _page(write_report(run_dir))
    assert "<script>alert" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    page = parse_page(html)
    assert HOSTILE in "".join(page.text)  # shown, as text
    assert len(page.scripts) == 2  # the error hook and the table script, nothing else
    assert not any("alert" in s for s in page.scripts)


def test_scripts_are_pinned_by_the_content_security_policy(run_dir: Path) -> None:
    html = _page(write_report(run_dir))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    policy = csp.group(1).replace("&#x27;", "'")
    assert "default-src 'none'" in policy and "img-src data:" in policy
    for script in parse_page(html).scripts:
        assert csp_hash(script) in policy


def test_page_is_self_contained(run_dir: Path) -> None:
    html = _page(write_report(run_dir))
    page = parse_page(html)
    assert page.external == []
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", html.split("</style>")[0])
    assert "@import" not in html and "@font-face" not in html
    assert not re.search(r"url\((?!data:)", html)


def test_thumbnails_are_embedded_jpegs(run_dir: Path) -> None:
    files = write_report(run_dir, max_thumbnails_per_class=3, thumbnail_size=16)
    page = parse_page(_page(files))
    report = json.loads(files.json.read_text())
    expected = sum(len(g["shown"]) for b in report["biases"] for g in b["images"].values())
    assert 0 < len(page.images) == expected
    for img in page.images[:5]:
        assert img["src"].startswith("data:image/jpeg;base64,")
        assert img["alt"].startswith("Image for ")
        decoded = Image.open(io.BytesIO(base64.b64decode(img["src"].split(",", 1)[1])))
        assert decoded.format == "JPEG" and max(decoded.size) <= 16
    assert page.placeholders == []


def test_missing_and_broken_images_become_placeholders(run_dir: Path) -> None:
    images = sorted((run_dir / "images").rglob("*.png"))
    images[0].unlink()
    images[1].write_bytes(b"not a png")
    files = write_report(run_dir, max_thumbnails_per_class=1000)
    page = parse_page(_page(files))
    assert any("image file missing" in p for p in page.placeholders)
    assert any("unreadable image" in p for p in page.placeholders)
    report = json.loads(files.json.read_text())
    assert any("could not be embedded" in w for w in report["warnings"])


def test_no_thumbnails_when_asked(run_dir: Path) -> None:
    page = parse_page(_page(write_report(run_dir, max_thumbnails_per_class=0)))
    assert page.images == [] and page.placeholders == []


@pytest.mark.parametrize("kwargs", [{"max_thumbnails_per_class": -1}, {"thumbnail_size": 4}])
def test_bad_parameters(run_dir: Path, kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        write_report(run_dir, **kwargs)


def test_insufficient_data_rows_are_marked(edit_scores: Callable[[ScoresEditor], Path]) -> None:
    def edit(s: dict[str, Any]) -> None:
        make_insufficient(s["biases"][0]["context_free"])
        make_insufficient(s["biases"][0]["context_aware"])

    run = edit_scores(edit)
    bias_id = json.loads((run / "scores.json").read_text())["biases"][0]["bias_id"]
    html = _page(write_report(run))
    page = parse_page(html)
    assert page.bias_rows[-1] == bias_id
    assert page.row_status[bias_id] == "insufficient_data"
    assert sum(s == "ok" for s in page.row_status.values()) == len(page.bias_rows) - 1
    row = re.search(r'<tr data-bias-id="' + re.escape(bias_id) + r'".*?</tr>', html, re.S)
    assert row is not None
    assert 'class="insufficient"' in row.group(0) and "insufficient data" in row.group(0)


def test_statistics_columns_and_intersections(
    edit_scores: Callable[[ScoresEditor], Path],
) -> None:
    files = write_report(edit_scores(add_statistics))
    html = _page(files)
    page = parse_page(html)
    assert ">Fair<br>floor<" in html and "Floor-<br>corrected" in html and ">q / p<" in html
    assert 'class="floor"' in html  # the floor region in the interval chart
    assert len(page.intersection_tables) == 2
    assert "reference distribution" in html and "chi-square goodness of fit" in html
    report = json.loads(files.json.read_text())
    assert report["biases"][0]["rank_by"] == "corrected"


def test_columns_absent_without_statistics(
    edit_scores: Callable[[ScoresEditor], Path],
) -> None:
    html = _page(write_report(edit_scores(strip_statistics)))
    assert "Floor-<br>corrected" not in html and ">q / p<" not in html
    assert "has no fair floors, floor-corrected scores, p/q-values" in html
    assert 'id="intersections"' not in html


def test_render_html_without_thumbnails_uses_placeholders(run_dir: Path) -> None:
    data = build_report_data(run_dir, max_thumbnails_per_class=1)
    page = parse_page(render_html(data))
    assert page.images == []
    assert page.placeholders and all("not embedded" in p for p in page.placeholders)


def test_how_to_read_and_manifest_sections(run_dir: Path) -> None:
    html = _page(write_report(run_dir))
    for needle in ("How to read these numbers", "Context-free vs. context-aware",
                   "Detection rate", "Fair floor and floor-corrected severity",
                   "p- and q-values", "0.15 (K = 5)", "Run manifest",
                   "Config hash", "sha256:", "Timings", "Environment:", "[generation]",
                   "images_per_caption = 8"):
        assert needle in html, needle


def test_nothing_scored_and_odd_manifest(run_dir: Path) -> None:
    scores = json.loads((run_dir / "scores.json").read_text())
    scores["biases"] = []
    (run_dir / "scores.json").write_text(json.dumps(scores))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["timings_s"]["total"] = float("nan")  # Python's json reads NaN; report.json must not
    manifest["components"]["generator"]["weird"] = float("inf")
    del manifest["seeds"]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    files = write_report(run_dir)
    page = parse_page(_page(files))
    assert page.bias_rows == []
    assert "No biases were scored." in _page(files)
    json.loads(files.json.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert "No bias was scored." in files.markdown.read_text()
