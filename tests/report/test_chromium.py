"""The report in a real browser: Debian's ``chromium``, headless, started by the test.

Skipped when no chromium is installed, unless ``FAIRFRAME_REQUIRE_CHROMIUM=1`` (CI sets it and
installs the ``chromium`` package), then it fails. ``FAIRFRAME_CHROMIUM`` may name the binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fairframe.report import write_report
from fairframe.report._assets import csp_hash
from tests.report._page import Page, parse_page
from tests.report.conftest import ScoresEditor, add_statistics, make_insufficient

TIMEOUT_S = 90


def _chromium() -> str:
    explicit = os.environ.get("FAIRFRAME_CHROMIUM")
    found = (shutil.which(explicit) if explicit
             else shutil.which("chromium") or shutil.which("chromium-browser"))
    if found:
        return found
    reason = ("chromium is not installed (Debian: `apt-get install -y chromium`); "
              "set FAIRFRAME_CHROMIUM to its path")
    if os.environ.get("FAIRFRAME_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"FAIRFRAME_REQUIRE_CHROMIUM=1 but {reason}")
    pytest.skip(reason)


def chromium_command(binary: str, profile: Path, *extra: str) -> list[str]:
    """The headless invocation (also the one to use by hand, with ``--screenshot``)."""
    return [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
        "--enable-logging=stderr", "--v=0", *extra,
    ]


def dump_dom(page: Path, tmp_path: Path) -> tuple[Page, str]:
    cmd = chromium_command(_chromium(), tmp_path / "profile", "--dump-dom", page.as_uri())
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                              check=False, errors="replace")
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"chromium did not finish within {TIMEOUT_S} s: {exc}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "<html" in proc.stdout, proc.stderr[-3000:]
    return parse_page(proc.stdout), proc.stderr


def drive(html_path: Path, driver: str, tmp_path: Path) -> Page:
    """Load ``html_path`` with ``driver`` injected as an allowed inline script (its CSP hash is
    added), and check the page raised no JS or console error."""
    html = html_path.read_text()
    html = html.replace("script-src ", f"script-src {csp_hash(driver)} ", 1)
    html = html.replace("</body>", f"<script>{driver}</script></body>", 1)
    driven = tmp_path / "driven.html"
    driven.write_text(html)
    page, stderr = dump_dom(driven, tmp_path)
    assert "data-js-errors" not in page.html_attrs, page.html_attrs.get("data-js-errors")
    assert _console_problems(stderr) == []
    return page


def _console_problems(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines()
            if ":CONSOLE" in ln or "Uncaught" in ln or "Content Security Policy" in ln]


def test_report_opens_without_errors_and_shows_one_row_per_bias(
    edit_scores: Callable[[ScoresEditor], Path], tmp_path: Path,
) -> None:
    def edit(s: dict[str, Any]) -> None:
        add_statistics(s)
        make_insufficient(s["biases"][-1]["context_free"])

    run = edit_scores(edit)
    files = write_report(run)
    expected = parse_page(files.html.read_text()).bias_rows
    page, stderr = dump_dom(files.html, tmp_path)
    assert page.html_attrs.get("data-js-ready") == "1", "the page script did not finish"
    assert "data-js-errors" not in page.html_attrs, page.html_attrs.get("data-js-errors")
    assert _console_problems(stderr) == []
    assert page.bias_rows == expected and len(page.bias_rows) == len(set(page.bias_rows))
    text = "".join(page.text)
    assert f"{len(expected)} of {len(expected)} biases shown" in text  # the filter ran
    assert "insufficient data" in text
    assert len(page.intersection_tables) == 2


def test_error_hook_reports_failures(run_dir: Path, tmp_path: Path) -> None:
    """A page with a broken image must show up as an error, so the test above can fail."""
    html = write_report(run_dir).html.read_text()
    broken = tmp_path / "broken.html"
    broken.write_text(html.replace("<main>", '<main><img alt="" src="data:image/png;base64,AAAA">',
                                   1))
    page, _ = dump_dom(broken, tmp_path)
    assert int(page.html_attrs.get("data-js-error-count", "0")) >= 1
    assert "resource failed: IMG" in page.html_attrs.get("data-js-errors", "")


_DRIVER = """(function(){
var th=document.querySelectorAll('#bias-table thead th')[3];
var b=th.querySelector('button.sort');b.click();
var asc=Array.prototype.map.call(document.querySelectorAll('#bias-table tbody tr'),
function(r){return r.getAttribute('data-bias-id');}).join(',');
b.click();
var q=document.getElementById('bias-filter');q.value=%s;q.dispatchEvent(new Event('input'));
var d=document.documentElement;d.setAttribute('data-test-asc',asc);
d.setAttribute('data-test-sort',th.getAttribute('aria-sort'));
d.setAttribute('data-test-visible',String(
document.querySelectorAll('#bias-table tbody tr[data-bias-id]:not(.filtered)').length));
})();"""


def test_sorting_and_filtering_work(run_dir: Path, tmp_path: Path) -> None:
    import json


    files = write_report(run_dir)
    report = json.loads(files.json.read_text())
    target = report["biases"][-1]["bias_id"]
    driver = _DRIVER % json.dumps(target)
    page = drive(files.html, driver, tmp_path)
    value = {b["bias_id"]: b["context_free"]["value"] for b in report["biases"]}
    ascending = [value[i] for i in page.html_attrs["data-test-asc"].split(",")]
    assert ascending == sorted(value.values())  # values, not ids: ties may swap
    assert page.html_attrs["data-test-sort"] == "descending"
    assert [value[i] for i in page.bias_rows] == sorted(value.values(), reverse=True)
    assert page.html_attrs["data-test-visible"] == "1"
