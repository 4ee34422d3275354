"""The page in a real browser (Debian's chromium, headless, started by the test): it loads with no
error, and the filters and the nearest-neighbour browser change what is shown.

Skipped without chromium unless ``FAIRFRAME_REQUIRE_CHROMIUM=1``, then it fails (the same rule and
helpers as ``tests/report/test_chromium.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

from fairframe.explore import explore
from tests.explore.conftest import IMAGES_PER_CAPTION_B
from tests.report._page import Page
from tests.report.test_chromium import (
    _console_problems,
    drive,
    dump_dom,
)

# Set filters one after another, recording the visible count after each, then click a thumbnail.
_DRIVER = """(function(){
var d=document.documentElement;var rec=[];
function vis(){return document.querySelectorAll('#grid li.item:not(.filtered)').length;}
function set(id,v){var el=document.getElementById(id);el.value=v;
el.dispatchEvent(new Event('change'));}
rec.push(vis());
set('f-caption',%(caption)s);rec.push(vis());
set('f-caption','');set('f-group',%(group)s);rec.push(vis());
set('f-group','');set('f-cf-min',%(lo)s);set('f-cf-max',%(hi)s);rec.push(vis());
document.getElementById('f-reset').click();rec.push(vis());
document.querySelector('#grid li.item[data-i="5"] button.thumb').click();
d.setAttribute('data-test-visible',rec.join(','));
d.setAttribute('data-test-count',document.getElementById('grid-count').textContent);
})();"""


def _dump(page: Path, tmp_path: Path) -> tuple[Page, str]:
    return dump_dom(page, tmp_path)


def test_page_loads_without_errors_and_filters_change_the_grid(
    audit_run: Path, tmp_path: Path,
) -> None:
    res = explore(audit_run, tmp_path / "out", embedder="colour-hog", k=3)
    data = json.loads(res.json.read_text())
    n = len(data["items"])
    page, stderr = _dump(res.html, tmp_path)
    assert page.html_attrs.get("data-js-ready") == "1", "the page script did not finish"
    assert "data-js-errors" not in page.html_attrs, page.html_attrs.get("data-js-errors")
    assert _console_problems(stderr) == []
    assert page.html_attrs.get("data-visible") == str(n)

    caption = data["captions"][1]["caption_id"]
    bias, labels = next(iter(data["biases"].items()))
    group = f"{bias}={labels[0]}"
    in_group = sum(it["groups"].get(bias) == labels[0] for it in data["items"])
    cfs = sorted(it["colorfulness"] for it in data["items"])
    lo, hi = cfs[10], cfs[20]
    in_range = sum(lo <= v <= hi for v in cfs)
    driver = _DRIVER % {"caption": json.dumps(caption), "group": json.dumps(group),
                        "lo": json.dumps(str(lo)), "hi": json.dumps(str(hi))}
    page = drive(res.html, driver, tmp_path)
    visible = [int(v) for v in page.html_attrs["data-test-visible"].split(",")]
    assert visible == [n, data["captions"][1]["n"], in_group, in_range, n]
    assert 0 < in_group < n and 0 < in_range < n
    assert page.html_attrs["data-test-count"] == f"{n} of {n} images shown"
    # the neighbour browser now shows image 5's neighbours
    assert page.html_attrs["data-nn-query"] == "5"
    assert page.html_attrs["data-nn-count"] == str(len(data["items"][5]["neighbors"]))


# Two models: the model filter alone, with a caption, then with the other model, then reset.
_MODEL_DRIVER = """(function(){
var d=document.documentElement;var rec=[];
function vis(){return document.querySelectorAll('#grid li.item:not(.filtered)').length;}
function blocks(){return document.querySelectorAll('#grid div.modelgrid:not(.filtered)').length;}
function set(id,v){var el=document.getElementById(id);el.value=v;
el.dispatchEvent(new Event('change'));}
rec.push(vis());
set('f-model',%(a)s);rec.push(vis());d.setAttribute('data-test-blocks',String(blocks()));
set('f-caption',%(caption)s);rec.push(vis());
set('f-model',%(b)s);rec.push(vis());
document.getElementById('f-reset').click();rec.push(vis());
var show=document.querySelector('#colourfulness button[data-model='+JSON.stringify(%(b)s)+']');
show.click();rec.push(vis());
d.setAttribute('data-test-visible',rec.join(','));
d.setAttribute('data-test-count',document.getElementById('grid-count').textContent);
})();"""


def _drive(html_path: Path, driver: str, tmp_path: Path) -> Page:
    return drive(html_path, driver, tmp_path)


def test_model_filter_shows_exactly_one_models_images(
    audit_run: Path, audit_run_b: Path, tmp_path: Path,
) -> None:
    res = explore([audit_run, audit_run_b], tmp_path / "out", embedder="colour-hog", k=3,
                  face_detector=None)
    data = json.loads(res.json.read_text())
    a, b = data["models"]
    n = len(data["items"])
    n_a = sum(it["model"] == a for it in data["items"])
    n_b = n - n_a
    assert 0 < n_b < n_a < n  # the two models have different counts
    caption = data["captions"][2]["caption_id"]
    cap_a = data["captions"][2]["by_model"][a]["n"]
    cap_b = data["captions"][2]["by_model"][b]["n"]
    page, stderr = _dump(res.html, tmp_path)
    assert page.html_attrs.get("data-js-ready") == "1", "the page script did not finish"
    assert "data-js-errors" not in page.html_attrs, page.html_attrs.get("data-js-errors")
    assert _console_problems(stderr) == []
    assert page.html_attrs.get("data-visible") == str(n)
    driver = _MODEL_DRIVER % {"a": json.dumps(a), "b": json.dumps(b),
                              "caption": json.dumps(caption)}
    page = _drive(res.html, driver, tmp_path)
    visible = [int(v) for v in page.html_attrs["data-test-visible"].split(",")]
    # colourfulness "show" for the first-ranked caption and model b: that caption's b images
    shown_cap = page.html_attrs.get("data-test-count", "")
    assert visible[:5] == [n, n_a, cap_a, cap_b, n]
    assert visible[5] == IMAGES_PER_CAPTION_B and shown_cap == f"{visible[5]} of {n} images shown"
    # only model a's blocks stay visible (one per caption)
    assert page.html_attrs["data-test-blocks"] == str(len(data["captions"]))


def test_error_hook_catches_a_broken_image(photo_folder: Path, tmp_path: Path) -> None:
    res = explore(photo_folder, tmp_path / "out", embedder="colour-hog", face_detector=None)
    broken = tmp_path / "broken.html"
    broken.write_text(res.html.read_text().replace(
        "<main>", '<main><img alt="" src="data:image/png;base64,AAAA">', 1))
    page, _ = _dump(broken, tmp_path)
    assert "resource failed: IMG" in page.html_attrs.get("data-js-errors", "")
