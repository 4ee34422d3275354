"""Render the report data (:func:`fairframe.report.build_report_data`) as one self-contained page.

The page needs no network and no other file: CSS and two small scripts are inline (allowed by a
Content-Security-Policy that names their hashes, so nothing else can run), charts are inline SVG,
thumbnails are ``data:`` URIs. Every string that comes from the run (captions, class names, bias
ids, LLM replies) is HTML-escaped. Sections:

1. summary cards and notes (test components, small n, warnings);
2. **Biases, ranked**: one row per bias (``<tr data-bias-id=...>``) with a forest-plot cell
   (interval bars, fair-floor region) and the numbers; sortable and filterable with JavaScript;
3. one section per bias: pooled distribution, per-caption stacked bars, reference and test,
   thumbnails per class (``unknown`` included);
4. intersectional tables (shaded cells with share and interval);
5. what was not scored; how to read these numbers; the run manifest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from fairframe.report._assets import CSS, ERROR_HOOK, SCRIPT, csp_hash
from fairframe.report._svg import (
    CA_COLOUR,
    CF_COLOUR,
    UNKNOWN_COLOUR,
    class_colour,
    heat_colours,
    severity_axis,
    severity_interval,
    stacked_bar,
)
from fairframe.report._thumbs import Thumbnail
from fairframe.report._toml import to_toml

__all__ = ["render_html"]


# -- small formatting helpers -------------------------------------------------------------------
def _e(text: object) -> str:
    """HTML-escape anything (quotes too, so the result is safe inside attributes)."""
    return escape("" if text is None else str(text), quote=True)


def _n(v: float | None, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def _pct(v: float | None, digits: int = 0) -> str:
    return "—" if v is None else f"{v * 100:.{digits}f}%"


def _ci(lo: float | None, hi: float | None, digits: int = 3, *, pct: bool = False) -> str:
    if lo is None or hi is None:
        return ""
    if pct:
        return f"[{_pct(lo, 0)}, {_pct(hi, 0)}]"
    return f"[{_n(lo, digits)}, {_n(hi, digits)}]"


def _sv(v: float | int | None) -> str:
    """A ``data-sort-value`` attribute (empty sorts last)."""
    return f' data-sort-value="{"" if v is None else v}"'


def _p(v: float | None) -> str:
    if v is None:
        return "—"
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def _when(iso: str | None) -> str:
    if not iso:
        return "—"
    return iso.replace("T", " ")[:19] + (" UTC" if iso.endswith(("+00:00", "Z")) else "")


def _level(data: Mapping[str, Any]) -> str:
    conf = data["audit"].get("confidence") or 0.95
    return f"{conf * 100:g}%"


def _model_line(comp: Mapping[str, Any] | None) -> str:
    if not comp:
        return "—"
    model = comp.get("model") or comp.get("backend") or "?"
    rev = comp.get("revision")
    text = f"<code>{_e(model)}</code>"
    if rev:
        text += f' <span class="muted small">@ {_e(str(rev)[:24])}</span>'
    return text + f' <span class="muted small">({_e(comp.get("backend") or "?")})</span>'


# -- head and summary ---------------------------------------------------------------------------
def _head(title: str) -> str:
    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src {csp_hash(ERROR_HOOK)} {csp_hash(SCRIPT)}; base-uri 'none'; "
           "form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="fairframe report">\n'
        f"<title>{_e(title)}</title>\n<script>{ERROR_HOOK}</script>\n"
        f"<style>{CSS}</style>\n</head>\n"
    )


def _cards(data: Mapping[str, Any]) -> str:
    a, biases = data["audit"], data["biases"]
    scored = sum(1 for b in biases if b["status"] == "ok")
    top = next((b for b in biases if b["rank"] == 1), None)
    if a.get("images_per_caption_range"):
        lo, hi = a["images_per_caption_range"]
        ipc = str(lo) if lo == hi else f"{lo}–{hi}"
    else:
        ipc = _e(a.get("images_per_caption") or "—")
    src = a.get("captions_source") or "?"
    cards = [
        ("Generator", _model_line(a.get("generator"))),
        ("Labeler", _model_line(a.get("labeler"))),
        ("Captions", f"{_e(a.get('captions') if a.get('captions') is not None else '—')} "
                     f'<span class="muted small">from <code>{_e(src)}</code></span>'),
        ("Images", f"{ipc} per caption · {_e(a.get('images') or 0)} in all"),
        ("Biases", f"{scored} scored · {len(biases) - scored} insufficient data"),
    ]
    if top is not None:
        cf = top["context_free"]
        what = "floor-corrected severity" if top["rank_by"] == "corrected" else "severity"
        cards.append(("Strongest", f'<a href="#{_e(top["anchor"])}">{_e(top["bias_id"])}</a> '
                                   f'<span class="small">{what} {_n(top["rank_value"])} '
                                   f'(n = {_e(cf["n"])})</span>'))
    body = "".join(f'<div class="card"><div class="k">{k}</div><div class="v">{v}</div></div>'
                   for k, v in cards)
    return f'<section class="cards" aria-label="summary">{body}</section>'


def _notes(data: Mapping[str, Any]) -> str:
    a = data["audit"]
    out = []
    if a.get("test_components"):
        out.append('<p class="note" role="note"><strong>Test components.</strong> This run uses '
                   "fake backends or tiny random models (<code>tiny://</code>): the numbers "
                   "exercise the pipeline and say nothing about any real model.</p>")
    if a.get("small_n_per_caption"):
        rng = a.get("images_per_caption_range") or [a.get("images_per_caption")] * 2
        out.append(
            '<p class="note" role="note"><strong>Small n per caption.</strong> Some captions '
            f"have only {_e(rng[0])} images (fewer than 50). Per-caption severities are noisy "
            "and biased upwards: with 10 images per caption a perfectly fair generator "
            "already scores about 0.08 (2 classes) to 0.15 (5 classes) context-aware severity, "
            "and one share's 95% interval is about ±0.26. Pooled (context-free) scores and "
            "their intervals are the numbers to read; use 50–200 images per caption for "
            "per-caption claims.</p>")
    for w in data.get("warnings", []):
        out.append(f'<p class="note info" role="note">{_e(w)}</p>')
    return "".join(out)


# -- the ranked table ---------------------------------------------------------------------------
def _has(biases: Sequence[Mapping[str, Any]], key: str) -> bool:
    return any(b["context_free"].get(key) is not None for b in biases)


def _pq(b: Mapping[str, Any]) -> tuple[float | None, str]:
    cf = b["context_free"]
    p, q = cf.get("p_value"), cf.get("q_value")
    if p is None and q is None:
        return None, "—"
    text = f'<span class="val">q {_p(q)}</span>' if q is not None else ""
    if p is not None:
        text += f'<span class="ci">p {_p(p)}</span>'
    if q is not None and q < 0.05:
        text += ' <span class="badge sig">q &lt; 0.05</span>'
    return (q if q is not None else p), text


def _bias_row(b: Mapping[str, Any], cols: Mapping[str, bool]) -> str:
    cf, ca, det = b["context_free"], b["context_aware"], b["detection_rate"]
    ok = b["status"] == "ok"
    classes = b["classes"]
    cls_text = ", ".join(classes[:8]) + (f", … ({len(classes)} in all)" if len(classes) > 8
                                         else "")
    badge = ('<span class="badge insuf">insufficient data</span>'
             f'<span class="ci">{_e(b["reason"])}</span>') if not ok else ""
    ranked_raw = ok and b["rank_by"] == "value" and cols["corrected"]
    cells = [
        f'<td class="num rank"{_sv(b["rank"])}>{b["rank"] if b["rank"] is not None else "—"}</td>',
        f'<td{_sv(b["bias_id"])}><a class="bname" href="#{_e(b["anchor"])}">{_e(b["name"])}</a> '
        f'<code>{_e(b["bias_id"])}</code><span class="sub">K = {len(classes)}: '
        f"{_e(cls_text)}</span>{badge}</td>",
        f'<td class="chart">{severity_interval(cf, ca)}</td>',
        f'<td class="num"{_sv(cf["value"])}><span class="val">{_n(cf["value"])}</span>'
        f'<span class="ci">{_ci(cf["ci_low"], cf["ci_high"])}</span>'
        f'<span class="ci">n = {_e(cf["n"] if cf["n"] is not None else "—")}</span></td>',
    ]
    if cols["floor"]:
        cells.append(f'<td class="num"{_sv(cf["floor"])}>{_n(cf["floor"])}</td>')
    if cols["corrected"]:
        note = '<span class="ci">not corrected</span>' if ranked_raw else ""
        cells.append(
            f'<td class="num"{_sv(cf["corrected"])}><span class="val">{_n(cf["corrected"])}'
            f'</span><span class="ci">{_ci(cf["corrected_ci_low"], cf["corrected_ci_high"])}'
            f"</span>{note}</td>")
    ca_caps = ca.get("n_captions")
    cells.append(
        f'<td class="num"{_sv(ca["value"])}><span class="val">{_n(ca["value"])}</span>'
        f'<span class="ci">{_ci(ca["ci_low"], ca["ci_high"])}</span>'
        + (f'<span class="ci">{_e(ca_caps)} caption(s)</span>' if ca_caps is not None else "")
        + "</td>")
    if cols["pq"]:
        key, text = _pq(b)
        cells.append(f'<td class="num"{_sv(key)}>{text}</td>')
    n_known = cf["n"] if cf["n"] is not None else det.get("value")
    cells.append(
        f'<td class="num"{_sv(det["value"])}><span class="val">{_pct(det["value"])}</span>'
        f'<span class="ci">{_e(n_known if n_known is not None else "—")} of '
        f'{_e(b["n_images"])}</span></td>')
    status = "ok" if ok else "insufficient_data"
    klass = "" if ok else ' class="insufficient"'
    return (f'<tr data-bias-id="{_e(b["bias_id"])}" data-status="{status}"{klass}>'
            + "".join(cells) + "</tr>")


def _ranking(data: Mapping[str, Any]) -> str:
    biases = data["biases"]
    level = _level(data)
    cols = {"floor": _has(biases, "floor"), "corrected": _has(biases, "corrected"),
            "pq": _has(biases, "p_value") or _has(biases, "q_value")}
    by = ("floor-corrected context-free severity (where computed)" if cols["corrected"]
          else "context-free severity")
    heads = [
        '<th scope="col" class="num" data-sort="num" aria-sort="ascending">#</th>',
        '<th scope="col" data-sort="text">Bias</th>',
        f'<th scope="col" class="chart"><span class="small">Severity, {level} intervals</span>'
        f"<br>{severity_axis()}</th>",
        f'<th scope="col" class="num" data-sort="num">Context-free<br>'
        f'<span class="small muted">[{level} CI]</span></th>',
    ]
    if cols["floor"]:
        heads.append('<th scope="col" class="num" data-sort="num">Fair<br>floor</th>')
    if cols["corrected"]:
        heads.append('<th scope="col" class="num" data-sort="num">Floor-<br>corrected</th>')
    heads.append(f'<th scope="col" class="num" data-sort="num">Context-aware<br>'
                 f'<span class="small muted">[{level} CI]</span></th>')
    if cols["pq"]:
        heads.append('<th scope="col" class="num" data-sort="num">q / p</th>')
    heads.append('<th scope="col" class="num" data-sort="num">Detected</th>')
    rows = "\n".join(_bias_row(b, cols) for b in biases)
    legend = (
        '<div class="legend" aria-hidden="true">'
        f'<span><svg width="34" height="12"><line x1="2" x2="32" y1="6" y2="6" '
        f'stroke="{CF_COLOUR}" stroke-width="2"/><circle cx="17" cy="6" r="4.5" '
        f'fill="{CF_COLOUR}"/></svg> context-free severity and interval</span>'
        f'<span><svg width="34" height="12"><line x1="2" x2="32" y1="6" y2="6" '
        f'stroke="{CA_COLOUR}" stroke-width="1.5"/><path d="M17 1.5 L21.5 6 L17 10.5 L12.5 6 Z" '
        f'fill="#FFF" stroke="{CA_COLOUR}" stroke-width="1.6"/></svg> context-aware</span>'
        '<span><span class="sw" style="background:#E4E4E4"></span>severity a fair generator '
        "reaches by chance at this n (fair floor)</span></div>")
    missing = []
    if not cols["floor"]:
        missing.append("fair floors")
    if not cols["corrected"]:
        missing.append("floor-corrected scores")
    if not cols["pq"]:
        missing.append("p/q-values")
    miss = (f'<p class="small muted">This run\'s <code>scores.json</code> has no '
            f"{', '.join(missing)}; they are left out of the table.</p>" if missing else "")
    controls = (
        '<div class="controls hidden noprint" id="bias-controls">'
        '<label>Filter <input type="search" id="bias-filter" placeholder="bias, class or id" '
        'aria-controls="bias-table"></label>'
        '<label><input type="checkbox" id="hide-insufficient"> hide insufficient data</label>'
        '<span id="bias-count" class="small muted" aria-live="polite"></span></div>')
    return (
        '<section id="ranking" aria-labelledby="ranking-h"><h2 id="ranking-h">Biases, ranked</h2>'
        f'<p class="small">Ranked by {by}, highest first; biases without enough answers for a '
        "score come last. 0 = every class equally often, 1 = one class only. Click a column "
        "header to sort.</p>"
        f"{legend}{controls}"
        '<div class="tablewrap"><table id="bias-table" class="sortable">'
        f"<caption>{len(biases)} biases (one row each)</caption>"
        f"<thead><tr>{''.join(heads)}</tr></thead>"
        f"<tbody>\n{rows}\n</tbody></table></div>{miss}</section>"
    )


# -- per-bias sections --------------------------------------------------------------------------
def _colours(classes: Sequence[str]) -> list[str]:
    return [class_colour(i) for i in range(len(classes))]


def _legend(classes: Sequence[str]) -> str:
    items = "".join(f'<span><span class="sw" style="background:{c}"></span>{_e(name)}</span>'
                    for name, c in zip(classes, _colours(classes), strict=True))
    return (f'<div class="legend">{items}<span><span class="sw" '
            f'style="background:{UNKNOWN_COLOUR}"></span>unknown (not counted in the severity)'
            "</span></div>")


def _kv(items: Sequence[tuple[str, str]]) -> str:
    return '<div class="kv">' + "".join(
        f'<div><div class="k">{k}</div>{v}</div>' for k, v in items) + "</div>"


def _entry_text(e: Mapping[str, Any], *, pct: bool = False) -> str:
    if e["status"] != "ok":
        return f'<span class="muted">insufficient data</span><span class="ci">{_e(e["reason"])}' \
               "</span>"
    val = _pct(e["value"], 1) if pct else _n(e["value"])
    return (f'<span class="val">{val}</span> <span class="ci">'
            f'{_ci(e["ci_low"], e["ci_high"], pct=pct)} n = {_e(e["n"])}</span>')


def _distribution(b: Mapping[str, Any]) -> str:
    d, classes = b["distribution"], b["classes"]
    colours = _colours(classes)
    ref = b.get("reference") or {}
    total = sum(d["counts"].values()) + d["unknown"]
    segs = [(c, d["counts"][c], col) for c, col in zip(classes, colours, strict=True)]
    bar = stacked_bar(segs, d["unknown"], width=640, height=24, subject="all captions")
    ref_bar = ""
    if ref:
        scale = 1000
        rsegs = [(c, round((ref.get(c) or 0.0) * scale), col)
                 for c, col in zip(classes, colours, strict=True)]
        ref_bar = ('<div class="small muted">reference distribution</div>'
                   + stacked_bar(rsegs, 0, width=640, height=16, subject="the reference",
                                 labels="share"))
    has_soft = any(v is not None for v in d["soft_shares"].values())
    head = ("<tr><th scope=\"col\">Class</th><th scope=\"col\" class=\"num\">Images</th>"
            f'<th scope="col" class="num">Share of images with a class [{_level_b(b)} CI]</th>'
            + ('<th scope="col" class="num">Reference</th>' if ref else "")
            + ('<th scope="col" class="num">Mean probability</th>' if has_soft else "")
            + "</tr>")
    rows = []
    for c, col in zip(classes, colours, strict=True):
        s = d["shares"][c]
        share = (f'<span class="val">{_pct(s["value"], 1)}</span> '
                 f'<span class="ci">{_ci(s["ci_low"], s["ci_high"], pct=True)}</span>'
                 if s["value"] is not None else "—")
        rows.append(
            f'<tr><th scope="row"><span class="sw" style="background:{col};display:inline-block;'
            f'width:11px;height:11px;margin-right:6px"></span>{_e(c)}</th>'
            f'<td class="num">{d["counts"][c]}</td><td class="num">{share}</td>'
            + (f'<td class="num">{_pct(ref.get(c), 1)}</td>' if ref else "")
            + (f'<td class="num">{_pct(d["soft_shares"].get(c), 1)}</td>' if has_soft else "")
            + "</tr>")
    unk_share = d["unknown"] / total if total else None
    rows.append(
        f'<tr><th scope="row"><span class="sw" style="background:{UNKNOWN_COLOUR};'
        'display:inline-block;width:11px;height:11px;margin-right:6px"></span>unknown</th>'
        f'<td class="num">{d["unknown"]}</td><td class="num muted">{_pct(unk_share, 1)} of all '
        "images</td>" + ("<td></td>" if ref else "")
        + (f'<td class="num">{_pct(d["soft_shares"].get("unknown"), 1)}</td>' if has_soft
           else "") + "</tr>")
    test = b.get("test")
    test_html = ""
    if test:
        test_html = (
            f'<p class="small">Test against the reference: {_e(test.get("method") or "test")}, '
            f'statistic {_n(test.get("statistic"))}, p {_p(test.get("p_value"))}, '
            f'q {_p(test.get("q_value"))}.</p>')
    return (f"<h4>Distribution over all captions</h4>{_legend(classes)}{bar}{ref_bar}"
            f'<table class="dist"><caption class="small">Counts over {total} images; each image '
            f"counts once, for its most probable answer</caption><thead>{head}</thead><tbody>"
            + "".join(rows) + f"</tbody></table>{test_html}")


def _level_b(b: Mapping[str, Any]) -> str:
    conf = b["context_free"].get("confidence") or 0.95
    return f"{conf * 100:g}%"


def _per_caption(b: Mapping[str, Any]) -> str:
    classes = b["classes"]
    colours = _colours(classes)
    has_floor = any(p["severity"].get("floor") is not None for p in b["per_caption"])
    rows = []
    for p in b["per_caption"]:
        segs = [(c, p["counts"].get(c, 0), col) for c, col in zip(classes, colours, strict=True)]
        bar = stacked_bar(segs, p["unknown"], width=300, height=18,
                          subject=f"caption {p['caption_id']}")
        sev, det = p["severity"], p["detection_rate"]
        rows.append(
            f'<tr><td{_sv(p["caption_id"])}><span class="caption-text">{_e(p["caption"])}</span>'
            f'<span class="ci">{_e(p["caption_id"])}</span></td>'
            f'<td class="num">{p["n_images"]}</td><td>{bar}</td>'
            f'<td class="num"{_sv(sev["value"])}>{_entry_text(sev)}</td>'
            + (f'<td class="num"{_sv(sev.get("floor"))}>{_n(sev.get("floor"))}</td>'
               if has_floor else "")
            + f'<td class="num"{_sv(det["value"])}>{_pct(det["value"])}</td></tr>')
    if not rows:
        return "<p class=\"muted\">No per-caption table in scores.json.</p>"
    return (
        f"<h4>Per caption</h4>"
        f'<table class="sortable percap"><caption class="small">{len(rows)} caption(s); the '
        "bar shows counts per class, unknown in grey at the right</caption><thead><tr>"
        '<th scope="col" data-sort="text">Caption</th>'
        '<th scope="col" class="num" data-sort="num">Images</th>'
        '<th scope="col">Distribution</th>'
        f'<th scope="col" class="num" data-sort="num">Severity [{_level_b(b)} CI]</th>'
        + ('<th scope="col" class="num" data-sort="num">Floor</th>' if has_floor else "")
        + '<th scope="col" class="num" data-sort="num">Detected</th></tr></thead><tbody>'
        + "".join(rows) + "</tbody></table>")


def _thumb(item: Mapping[str, Any], outcome: str, thumbs: Mapping[str, Thumbnail],
           size: int) -> str:
    prob = item.get("label_prob")
    seed = item.get("seed")
    desc = (f"Image for “{item['caption']}” (seed {seed}), labelled {outcome}"
            + (f" with probability {prob:.2f}" if prob is not None else ""))
    path = item.get("image_path")
    th = thumbs.get(path) if path else None
    if th is not None and th.data_uri:
        return (f'<li><img src="{th.data_uri}" width="{th.width}" height="{th.height}" '
                f'alt="{_e(desc)}" title="{_e(desc)}" loading="eager"></li>')
    problem = (th.problem if th is not None and th.problem else
               "image not exported" if not path else "image not embedded")
    return (f'<li><div class="ph" role="img" aria-label="{_e(desc)}: {_e(problem)}" '
            f'title="{_e(desc)}" style="width:{size}px;height:{size}px">{_e(problem)}</div></li>')


def _images(b: Mapping[str, Any], thumbs: Mapping[str, Thumbnail], size: int) -> str:
    images = b.get("images")
    if images is None:
        return ("<h4>Images by class</h4><p class=\"muted small\">No thumbnails: "
                "answers.parquet was not found.</p>")
    figs = []
    for outcome in [*b["classes"], "unknown"]:
        got = images.get(outcome) or {"total": 0, "shown": []}
        colour = UNKNOWN_COLOUR if outcome == "unknown" else class_colour(
            b["classes"].index(outcome))
        shown = got["shown"]
        items = "".join(_thumb(i, outcome, thumbs, size) for i in shown)
        body = (f'<ul class="thumbs">{items}</ul>' if items
                else '<p class="small muted">no image got this answer</p>')
        figs.append(
            f'<figure class="classgrid"><figcaption><span class="sw" style="background:{colour};'
            f'display:inline-block;width:11px;height:11px;margin-right:6px"></span>'
            f"<strong>{_e(outcome)}</strong> — {got['total']} image(s)"
            + (f", showing {len(shown)}" if got["total"] > len(shown) else "")
            + f"</figcaption>{body}</figure>")
    return ('<h4>Images by class</h4><p class="small muted">Images the labeler put in each '
            "class, taken in turn from each caption (most confident first). Look for labeler "
            "mistakes as well as for the bias.</p>"
            f'<div class="grids">{"".join(figs)}</div>')


def _bias_section(b: Mapping[str, Any], data: Mapping[str, Any],
                  thumbs: Mapping[str, Thumbnail], size: int) -> str:
    cf, ca, det = b["context_free"], b["context_aware"], b["detection_rate"]
    rank = f"rank {b['rank']}" if b["rank"] is not None else "not ranked"
    kv = [
        ("Context-free severity", _entry_text(cf)),
        ("Context-aware severity", _entry_text(ca)),
        ("Detection rate", _entry_text(det, pct=True)),
    ]
    if cf.get("floor") is not None:
        kv.append(("Fair floor", f'<span class="val">{_n(cf["floor"])}</span>'))
    if cf.get("corrected") is not None:
        kv.append(("Floor-corrected", f'<span class="val">{_n(cf["corrected"])}</span> '
                   f'<span class="ci">{_ci(cf["corrected_ci_low"], cf["corrected_ci_high"])}'
                   "</span>"))
    if cf.get("p_value") is not None or cf.get("q_value") is not None:
        kv.append(("p / q", f'{_p(cf.get("p_value"))} / {_p(cf.get("q_value"))}'))
    inter = ""
    if b["intersections"]:
        links = ", ".join(f'<a href="#{_x_id(data, b["bias_id"], o)}">{_e(o)}</a>'
                          for o in b["intersections"])
        inter = f'<p class="small">Intersections with: {links}.</p>'
    merged = [m for m in b["merged_from"] if m != b["name"]]
    merged_html = (f' · merged from {", ".join(_e(m) for m in merged)}' if merged else "")
    return (
        f'<section class="bias" id="{_e(b["anchor"])}" data-bias="{_e(b["bias_id"])}" '
        f'aria-labelledby="{_e(b["anchor"])}-h"><header><h3 id="{_e(b["anchor"])}-h">'
        f'{_e(b["name"])} <code>{_e(b["bias_id"])}</code></h3><span class="small muted">{rank}'
        f' · {b["n_images"]} images · {b["n_captions"]} caption(s)</span></header>'
        f'<p class="small">Question: “{_e(b["question"])}” · subject: {_e(b["refer_to"])}'
        f"{merged_html}</p>"
        f"{_kv(kv)}{inter}{_distribution(b)}{_per_caption(b)}{_images(b, thumbs, size)}"
        '<p class="small noprint"><a href="#ranking">back to the ranking</a></p></section>'
    )


# -- intersections ------------------------------------------------------------------------------
def _x_id(data: Mapping[str, Any], a: str, b: str) -> str:
    """The element id of the intersection table of biases ``a`` and ``b`` (either order)."""
    for i, x in enumerate(data["intersections"]):
        if {x["row_bias"], x["col_bias"]} == {a, b}:
            return f"intersection-{i + 1}"
    return "intersections"


def _intersections(data: Mapping[str, Any]) -> str:
    xs = data["intersections"]
    if not xs:
        return ""
    tables: list[str] = []
    for x in xs:
        shares = x["shares"]
        counts = x.get("counts")
        values = [c["value"] for r in shares for c in r if c["value"] is not None]
        # darkest at the largest share, but never darker than twice the mean cell: a table
        # whose cells are all equal comes out mid-blue, not dark
        top = max([*values, 2 * sum(values) / len(values)] if values else [0.0])
        head = "".join(f'<th scope="col">{_e(c)}</th>' for c in x["col_classes"])
        rows = []
        for i, rc in enumerate(x["row_classes"]):
            cells = []
            for j, _ in enumerate(x["col_classes"]):
                s = shares[i][j]
                bg, fg = heat_colours(s["value"], top)
                count = counts[i][j] if counts else None
                cells.append(
                    f'<td class="heat" style="background:{bg};color:{fg}">'
                    f'<span class="val">{_pct(s["value"], 1)}</span>'
                    f'<span class="ci">{_ci(s["ci_low"], s["ci_high"], pct=True)}</span>'
                    + (f'<span class="ci">{count} img</span>' if count is not None else "")
                    + "</td>")
            rows.append(f'<tr><th scope="row">{_e(rc)}</th>{"".join(cells)}</tr>')
        n = x.get("n")
        tables.append(
            f'<table class="intersection" id="intersection-{len(tables) + 1}" '
            f'data-row-bias="{_e(x["row_bias"])}" '
            f'data-col-bias="{_e(x["col_bias"])}"><caption>{_e(x["row_bias"])} × '
            f'{_e(x["col_bias"])}'
            + (f' <span class="small muted">(n = {_e(n)})</span>' if n is not None else "")
            + f'</caption><thead><tr><th scope="col">{_e(x["row_bias"])} \\ '
            f'{_e(x["col_bias"])}</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return (
        '<section id="intersections" aria-labelledby="inter-h"><h2 id="inter-h">Intersections'
        '</h2><p class="small">Each cell: share of the images in that combination of classes '
        "with its interval, and the image count. Darker cells hold larger shares; a table whose "
        "cells were all equal would be mid-blue.</p>" + "".join(tables) + "</section>")


# -- not scored, how to read, manifest ------------------------------------------------------------
def _not_scored(data: Mapping[str, Any]) -> str:
    ns = data["not_scored"]
    parts = []
    insufficient = [b for b in data["biases"] if b["status"] != "ok"]
    if insufficient:
        items = "".join(f'<li><a href="#{_e(b["anchor"])}">{_e(b["bias_id"])}</a>: '
                        f'{_e(b["reason"])}</li>' for b in insufficient)
        parts.append(f"<h4>Biases with insufficient data</h4><ul>{items}</ul>")
    if ns["captions_without_bias"]:
        items = "".join(f'<li><code>{_e(c["caption_id"])}</code> {_e(c["caption"])}</li>'
                        for c in ns["captions_without_bias"])
        parts.append(f"<h4>Captions with no applicable bias (no images generated)</h4>"
                     f"<ul>{items}</ul>")
    if ns["dropped_pairs"]:
        rows = "".join(
            f'<tr><td><code>{_e(p["caption_id"])}</code></td><td>{_e(p["bias"])}</td>'
            f'<td>{_e(p["reason"])}</td><td>{_e(p["matched"])}</td></tr>'
            for p in ns["dropped_pairs"])
        parts.append(
            "<h4>Caption × bias pairs left out because the caption states the attribute</h4>"
            '<table><thead><tr><th scope="col">Caption</th><th scope="col">Bias</th>'
            '<th scope="col">Reason</th><th scope="col">Matched</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")
    if ns["proposal_failures"]:
        items = "".join(
            f'<li><code>{_e(f["caption_id"])}</code> {_e(f["caption"])} — {_e(f["reason"])} '
            f'after {_e(f["attempts"])} attempt(s)<details><summary>errors and replies'
            f'</summary><pre>{_e(chr(10).join(f["errors"] + f["raw_replies"]))}</pre>'
            "</details></li>" for f in ns["proposal_failures"])
        parts.append(f"<h4>Captions whose bias proposal failed</h4><ul>{items}</ul>")
    if not parts:
        parts.append("<p>Every caption was proposed biases and every bias has a score.</p>")
    return ('<section id="not-scored" aria-labelledby="ns-h"><h2 id="ns-h">What was not scored'
            "</h2>" + "".join(parts) + "</section>")


HOW_TO_READ = """
<dl class="howto">
<dt>Severity</dt>
<dd>How unevenly the images fall into the classes of a bias: <code>S = 1 − H(p) / ln K</code>,
where <code>p</code> are the class shares, <code>H</code> their entropy and <code>K</code> the
number of classes. 0 means every class appears equally often; 1 means only one class appears. It
says nothing about <em>which</em> class dominates — the distribution bars do. Severity follows
OpenBias (CVPR 2024).</dd>
<dt>Context-free vs. context-aware</dt>
<dd><strong>Context-free</strong> pools every caption of a bias into one distribution.
<strong>Context-aware</strong> averages the entropy caption by caption
(<code>1 − mean<sub>j</sub> H(p<sub>j</sub>) / ln K</code>, over captions with enough answers).
A model that draws every doctor as a man and every nurse as a woman looks balanced when pooled
(low context-free) but not per caption (high context-aware). Context-aware severity is more
inflated by small samples than context-free.</dd>
<dt>Detection rate and “unknown”</dt>
<dd>The labeler may abstain (no person, cannot tell). Those images are counted as
<em>unknown</em>, drawn in grey, and left out of the severity; the detection rate is the share
of images that got a class. A low detection rate means the score rests on fewer images than were
generated — and the images the labeler could not read may differ from the rest.</dd>
<dt>Intervals</dt>
<dd>Every number comes with its n and an interval at the stated confidence. Class shares use
Wilson intervals; severities use the equal-tailed interval of a Dirichlet (Jeffreys) posterior,
widened to contain the point value. Wide intervals mean the data cannot tell apart values within
them; compare intervals, not points.</dd>
<dt>Fair floor and floor-corrected severity</dt>
<dd>Even a perfectly fair generator does not produce exactly equal counts, so its severity is
above 0 by chance — more so with fewer images and more classes. The <strong>fair floor</strong>
is the severity a fair generator is expected to reach at this n and K (the grey region in the
chart). The <strong>floor-corrected</strong> severity removes that chance part, so biases with
different n and K can be ranked against each other; where it is present the ranking uses it.</dd>
<dt>p- and q-values</dt>
<dd>The p-value is the chance of a severity at least this high if the generator were fair.
Because many biases (and captions) are tested at once, some small p-values are expected by
chance; q-values adjust for that (false-discovery rate): among findings with q below 0.05, about
5% are expected to be false alarms.</dd>
<dt>Small n</dt>
<dd>With 10 images per caption a perfectly fair generator already scores about 0.08 (K = 2) to
0.15 (K = 5) context-aware severity, and a 95% interval for one share is about ±0.26 wide. Eight
to ten images per caption cannot call one caption biased; use 50–200 images per caption for
per-caption claims. “Insufficient data” means fewer answers with a class than the run's
<code>min_n</code>: no number is shown rather than a misleading one.</dd>
<dt>What the labels are</dt>
<dd>Classes are <em>perceived</em> attributes as judged by an automatic labeler, not anyone's
identity, and the labeler makes mistakes — check the image grids. The classes come from the
bias taxonomy or an LLM's proposal: another choice of classes gives other numbers.</dd>
</dl>
"""


def _how_to_read() -> str:
    return ('<section id="how-to-read" aria-labelledby="htr-h"><h2 id="htr-h">How to read these '
            f"numbers</h2>{HOW_TO_READ}</section>")


def _component_table(components: Mapping[str, Any]) -> str:
    rows = []
    for role, comp in components.items():
        if not comp:
            rows.append(f'<tr><th scope="row">{_e(role)}</th><td colspan="4" class="muted">'
                        "none</td></tr>")
            continue
        other = {k: v for k, v in comp.items() if k not in ("backend", "model", "revision")}
        other_text = "; ".join(f"{k} = {v}" for k, v in other.items() if v is not None)
        rows.append(
            f'<tr><th scope="row">{_e(role)}</th><td>{_e(comp.get("backend"))}</td>'
            f'<td><code>{_e(comp.get("model") or "—")}</code></td>'
            f'<td><code>{_e(comp.get("revision") or "—")}</code></td>'
            f'<td class="small">{_e(other_text)}</td></tr>')
    return ('<table><caption>Components</caption><thead><tr><th scope="col">Role</th>'
            '<th scope="col">Backend</th><th scope="col">Model</th><th scope="col">Revision'
            '</th><th scope="col">Settings</th></tr></thead><tbody>' + "".join(rows)
            + "</tbody></table>")


def _manifest(data: Mapping[str, Any]) -> str:
    m, a, run = data["manifest"], data["audit"], data["run"]
    seeds = m["seeds"]
    seed_text = (f'{_e(seeds["rule"] or "")} (seeds {_e(seeds["first"])}–{_e(seeds["last"])}, '
                 f'{_e(seeds["count"])} per caption)' if seeds["count"] else "—")
    facts = [
        ("Run name", _e(run["name"])),
        ("Fairframe", _e(m["fairframe_version"] or "?")),
        ("Started", _e(_when(m["started"]))),
        ("Finished", _e(_when(m["finished"]))),
        ("Captions", f'{_e(a.get("captions"))} from <code>{_e(a.get("captions_source"))}</code>'
                     + (f' (first {_e(a["captions_limit"])})' if a.get("captions_limit") else "")),
        ("Images per caption", f'{_e(a.get("images_per_caption"))} '
                               f'<span class="muted">({_e(a.get("sampling_mode"))} sampling)'
                               "</span>"),
        ("Seeds", seed_text),
        ("Bias proposals", _e(a.get("proposer"))),
        ("Scoring", f'min_n {_e(a.get("min_n"))}, confidence {_e(a.get("confidence"))}, '
                    f'{_e(a.get("posterior_draws"))} posterior draws'),
        ("Config hash", f'<code>{_e(run["config_hash"] or "—")}</code>'),
    ]
    fact_rows = "".join(f'<tr><th scope="row">{k}</th><td>{v}</td></tr>' for k, v in facts)
    counts = "".join(f'<tr><th scope="row">{_e(k)}</th><td class="num">{_e(v)}</td></tr>'
                     for k, v in m["counts"].items())
    timings = m["timings_s"]
    longest = max((float(v) for k, v in timings.items() if k != "total"), default=0.0) or 1.0
    trows = "".join(
        f'<tr><th scope="row">{_e(k)}</th><td class="num">{float(v):.2f} s</td><td>'
        + (f'<span class="bars" style="width:{max(1, round(140 * float(v) / longest))}px">'
           "</span>" if k != "total" else "") + "</td></tr>"
        for k, v in timings.items())
    env = m["environment"]
    libs = ", ".join(f"{_e(k)} {_e(v)}" for k, v in env["libraries"].items())
    config = m.get("config") or {}
    toml = to_toml(config) if config else ""
    return (
        '<section id="manifest" aria-labelledby="man-h"><h2 id="man-h">Run manifest</h2>'
        f'<table><caption>Run</caption><tbody>{fact_rows}</tbody></table>'
        f'{_component_table(m["components"])}'
        '<div class="grids" style="grid-template-columns:repeat(auto-fit,minmax(300px,1fr))">'
        f'<table><caption>Counts</caption><tbody>{counts}</tbody></table>'
        f'<table><caption>Timings</caption><tbody>{trows}</tbody></table></div>'
        f'<p class="small"><strong>Environment:</strong> Python {_e(env["python"] or "?")} on '
        f'{_e(env["platform"] or "?")}; {libs}.</p>'
        '<h4>Reproduce</h4><p class="small">Save the configuration below as '
        "<code>audit.toml</code> and run <code>fairframe audit run audit.toml --out RUN_DIR"
        "</code> with the same component revisions; cached images and labels are reused.</p>"
        + (f"<details><summary>Configuration (TOML, from manifest.json)</summary>"
           f"<pre>{_e(toml)}</pre></details>" if toml else "")
        + "</section>")


# -- the page -----------------------------------------------------------------------------------
def render_html(data: Mapping[str, Any], thumbnails: Mapping[str, Thumbnail] | None = None, *,
                thumbnail_size: int = 96) -> str:
    """The report page for ``data`` (from :func:`~fairframe.report.build_report_data`).

    Parameters
    ----------
    data:
        The report data.
    thumbnails:
        Embedded images by their ``image_path`` (relative to the run folder); paths without one
        get a placeholder.
    thumbnail_size:
        Side of the placeholder boxes, in pixels.
    """
    thumbs = thumbnails or {}
    run = data["run"]
    title = f"Bias audit: {run['name']}"
    gen = data["audit"].get("generator") or {}
    subtitle = (f"Fairframe {_e(run.get('fairframe_version') or '?')} · finished "
                f"{_e(_when(run.get('finished')))} · generator <code>{_e(gen.get('model'))}"
                "</code>")
    nav = ('<nav class="toc" aria-label="contents"><a href="#ranking">Ranking</a>'
           '<a href="#details">Per bias</a>'
           + ('<a href="#intersections">Intersections</a>' if data["intersections"] else "")
           + '<a href="#not-scored">Not scored</a><a href="#how-to-read">How to read</a>'
             '<a href="#manifest">Manifest</a></nav>')
    sections = "".join(_bias_section(b, data, thumbs, thumbnail_size) for b in data["biases"])
    details = ('<section id="details" aria-labelledby="det-h"><h2 id="det-h">Per bias</h2>'
               + (sections or "<p>No biases were scored.</p>") + "</section>")
    return (
        _head(title)
        + f'<body>\n<header class="top"><div class="wrap"><h1>{_e(title)}</h1>'
        f"<p>{subtitle}</p>{nav}</div></header>\n<main>\n"
        + _notes(data) + _cards(data) + _ranking(data) + details + _intersections(data)
        + _not_scored(data) + _how_to_read() + _manifest(data)
        + f'<footer>Generated by Fairframe {_e(data["generated_by"]["fairframe_version"])} '
          "from manifest.json, scores.json and answers.parquet. The data behind this page is in "
          "report.json.</footer>\n</main>\n"
        + f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )
