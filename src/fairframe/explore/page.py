"""Render the exploration data (``explore.json``) as one self-contained, browsable page.

Same conventions as the audit report (:mod:`fairframe.report.html`): no network and no other file
(inline CSS, inline SVG, JPEG ``data:`` URIs), a Content-Security-Policy that allows only the two
inline scripts by hash, every string from the source HTML-escaped, and the report's error hook,
which records any script error, failed resource or CSP violation on ``<html>`` for browser tests.
The page is complete without JavaScript (every view is in the HTML); the script adds the filters,
the nearest-neighbour browser and the group selector, then sets ``data-js-ready="1"``.

Views:

1. **Images**: a grid per caption (one block per model when there are several), filtered by
   caption, model, group label, cluster and colourfulness range (``li.item`` elements,
   ``filtered`` when hidden; ``#grid-count`` says how many show);
2. **Nearest neighbours**: click any thumbnail to see its k most similar images;
3. **Clusters**: k-means summary, composition bars per caption (and per model within each caption
   when there are several models, plus one bar per model overall), examples of each cluster;
4. **Average faces**: rows caption, columns model × group label of one bias, with n; empty cells
   say why;
5. **Colourfulness**: captions sorted by mean colourfulness, one strip of ticks per (caption,
   model).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fairframe.report._assets import CSS, ERROR_HOOK, csp_hash
from fairframe.report._svg import class_colour, text_on
from fairframe.report._thumbs import Thumbnail
from fairframe.report.html import _e

__all__ = ["EXPLORE_CSS", "EXPLORE_SCRIPT", "render_page"]

EXPLORE_CSS = """
.controls label{display:inline-flex;gap:6px;align-items:center;font-size:.9rem}
.controls select,.controls input[type=number]{padding:4px 6px;border:1px solid #999;
border-radius:4px;font:inherit;font-size:.9rem;max-width:260px}
.controls input[type=number]{width:72px}
.count{font-weight:600;font-variant-numeric:tabular-nums}
.sticky{position:sticky;top:0;background:#fff;z-index:2;padding:8px 0;
border-bottom:1px solid var(--line)}
section.capgrid{margin:14px 0 6px}
section.capgrid h3{font-size:1rem;margin:0 0 6px}
section.capgrid h3 .muted{font-weight:400;font-size:.85rem}
button.thumb{all:unset;cursor:pointer;display:block;border-radius:4px;position:relative}
button.thumb:focus-visible{outline:3px solid var(--accent);outline-offset:1px}
button.thumb:hover img{border-color:var(--accent)}
ul.thumbs li.current img{outline:3px solid #D55E00;outline-offset:1px}
ul.thumbs .cfdot{position:absolute;left:3px;bottom:3px;font-size:.62rem;background:rgba(0,0,0,.62);
color:#fff;border-radius:3px;padding:0 3px;font-variant-numeric:tabular-nums}
li.item.filtered,section.capgrid.filtered,div.modelgrid.filtered{display:none}
div.modelgrid{margin:0 0 6px}
div.modelgrid h4{font-size:.82rem;font-weight:600;margin:2px 0 3px;color:#333}
.model-tag{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.82rem;
overflow-wrap:anywhere}
table.avgfaces th.modelh{border-bottom:2px solid var(--line);background:var(--soft)}
table.avgfaces td.mstart,table.avgfaces th.mstart{border-left:2px solid var(--line)}
tr.subrow td{border-top:none}
td.model-col{white-space:nowrap;max-width:260px;overflow:hidden;text-overflow:ellipsis}
.nnwrap{display:flex;gap:20px;align-items:flex-start;flex-wrap:wrap;border:1px solid var(--line);
border-radius:8px;padding:12px 14px;background:var(--soft)}
.nnwrap figure{margin:0}
.nnwrap figure.query img{border:3px solid #D55E00;border-radius:4px;display:block}
.nnwrap figcaption{font-size:.8rem;max-width:220px;overflow-wrap:anywhere;margin-top:4px}
ol.nnlist{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:10px;flex:1}
ol.nnlist li{width:108px;font-size:.74rem;line-height:1.25;overflow-wrap:anywhere}
ol.nnlist img{display:block;border-radius:3px;border:1px solid #bbb;margin-bottom:2px}
ol.nnlist .sim{font-weight:600;font-variant-numeric:tabular-nums}
.clusters{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
.cluster{border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.cluster h3{display:flex;align-items:center;gap:8px;font-size:1rem}
.swatch{display:inline-block;width:14px;height:14px;border-radius:3px;
border:1px solid rgba(0,0,0,.3)}
.cluster .top{font-size:.8rem;color:var(--muted);margin:4px 0 6px}
button.link{all:unset;cursor:pointer;color:#005a8c;text-decoration:underline;font-size:.82rem}
button.link:focus-visible{outline:2px solid var(--accent)}
table.avgfaces{width:auto;min-width:40%}
table.avgfaces td,table.avgfaces th{text-align:center;vertical-align:top}
table.avgfaces th.rowh{text-align:left;max-width:220px;font-weight:600}
table.avgfaces figure{margin:0;display:inline-block}
table.avgfaces img{display:block;border-radius:4px;margin:0 auto}
table.avgfaces figcaption{font-size:.75rem;color:var(--muted);font-variant-numeric:tabular-nums}
.faceph{display:flex;align-items:center;justify-content:center;text-align:center;
font-size:.7rem;color:#555;border:1px dashed #aaa;border-radius:4px;padding:4px;
background:repeating-linear-gradient(45deg,#f1f1f1 0 6px,#fafafa 6px 12px);margin:0 auto}
.afgroup.filtered{display:none}
table.cf td.strip{padding:2px 6px}
table.comp td.bar{padding:2px 6px}
.legend .sw{cursor:default}
"""

EXPLORE_SCRIPT = """(function(){
var d=document;function $(id){return d.getElementById(id);}
var items=Array.prototype.slice.call(d.querySelectorAll('#grid li.item'));
var groups=items.map(function(li){return JSON.parse(li.getAttribute('data-groups')||'[]');});
var byI={};items.forEach(function(li){byI[li.getAttribute('data-i')]=li;});
function num(el,dflt){if(!el){return dflt;}var v=parseFloat(el.value);return isNaN(v)?dflt:v;}
function val(id){var el=$(id);return el?el.value:'';}
function filter(){var cap=val('f-caption'),grp=val('f-group'),cl=val('f-cluster'),
mod=val('f-model');
var lo=num($('f-cf-min'),-Infinity),hi=num($('f-cf-max'),Infinity);var shown=0;
items.forEach(function(li,k){var raw=li.getAttribute('data-cf');
var v=raw===null||raw===''?null:parseFloat(raw);
var ok=(!cap||li.getAttribute('data-caption')===cap)&&(!grp||groups[k].indexOf(grp)>=0)&&
(!mod||li.getAttribute('data-model')===mod)&&
(!cl||li.getAttribute('data-cluster')===cl)&&(v===null||(v>=lo&&v<=hi));
li.classList.toggle('filtered',!ok);if(ok){shown+=1;}});
Array.prototype.forEach.call(d.querySelectorAll('#grid div.modelgrid'),function(s){
s.classList.toggle('filtered',!s.querySelector('li.item:not(.filtered)'));});
Array.prototype.forEach.call(d.querySelectorAll('#grid section.capgrid'),function(s){
s.classList.toggle('filtered',!s.querySelector('li.item:not(.filtered)'));});
var c=$('grid-count');if(c){c.textContent=shown+' of '+items.length+' images shown';}
var e=$('grid-empty');if(e){e.classList.toggle('hidden',shown>0);}
d.documentElement.setAttribute('data-visible',String(shown));}
['f-caption','f-model','f-group','f-cluster','f-cf-min','f-cf-max'].forEach(function(id){
var el=$(id);
if(el){el.addEventListener('change',filter);el.addEventListener('input',filter);}});
var reset=$('f-reset');if(reset){reset.addEventListener('click',function(){
['f-caption','f-model','f-group','f-cluster'].forEach(function(id){var el=$(id);
if(el){el.value='';}});
var a=$('f-cf-min'),b=$('f-cf-max');if(a){a.value=a.getAttribute('data-default');}
if(b){b.value=b.getAttribute('data-default');}filter();});}
function fig(li,cls){var f=d.createElement('figure');if(cls){f.className=cls;}
var src=li.querySelector('img');if(src){var im=d.createElement('img');im.src=src.src;
im.alt=src.alt;im.width=src.width;im.height=src.height;f.appendChild(im);}
var fc=d.createElement('figcaption');fc.textContent=li.getAttribute('data-label')||'';
f.appendChild(fc);return f;}
function show(i){var li=byI[String(i)];if(!li){return;}
var q=$('nn-query'),list=$('nn-list');if(!q||!list){return;}
items.forEach(function(x){x.classList.remove('current');});li.classList.add('current');
q.textContent='';q.appendChild(fig(li,'query'));list.textContent='';
var nn=(li.getAttribute('data-nn')||'').split(',').filter(Boolean);
var sim=(li.getAttribute('data-sim')||'').split(',');
nn.forEach(function(j,k){var o=byI[j];if(!o){return;}var item=d.createElement('li');
item.setAttribute('data-i',j);var b=d.createElement('button');b.type='button';
b.className='thumb';b.setAttribute('data-i',j);var src=o.querySelector('img');
if(src){var im=d.createElement('img');im.src=src.src;im.alt=src.alt;im.width=96;im.height=96;
b.appendChild(im);}item.appendChild(b);var s=d.createElement('span');s.className='sim';
s.textContent='cos '+sim[k];item.appendChild(s);item.appendChild(d.createTextNode(' '+
(o.getAttribute('data-label')||'')));list.appendChild(item);});
d.documentElement.setAttribute('data-nn-query',String(i));
d.documentElement.setAttribute('data-nn-count',String(list.children.length));}
d.addEventListener('click',function(ev){var t=ev.target;
var b=t&&t.closest?t.closest('button.thumb'):null;
if(b&&b.hasAttribute('data-i')){show(b.getAttribute('data-i'));
var sec=$('neighbours');if(sec&&sec.scrollIntoView&&!b.closest('#neighbours')){
sec.scrollIntoView({block:'start'});}return;}
var f=t&&t.closest?t.closest('button[data-filter]'):null;
if(f){var el=$(f.getAttribute('data-filter'));if(el){el.value=f.getAttribute('data-value');
var fm=$('f-model');if(fm&&f.hasAttribute('data-model')){fm.value=f.getAttribute('data-model');}
filter();var g=$('grid');if(g&&g.scrollIntoView){g.scrollIntoView({block:'start'});}}}});
var af=$('af-bias');function faces(){var v=af?af.value:'*';
Array.prototype.forEach.call(d.querySelectorAll('.afgroup'),function(g){
g.classList.toggle('filtered',g.getAttribute('data-bias')!==v);});}
if(af){af.addEventListener('change',faces);faces();}
Array.prototype.forEach.call(d.querySelectorAll('.jsonly'),function(x){
x.classList.remove('hidden');});
filter();
d.documentElement.setAttribute('data-js-ready','1');
})();"""


def _f(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def _head(title: str) -> str:
    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src {csp_hash(ERROR_HOOK)} {csp_hash(EXPLORE_SCRIPT)}; base-uri 'none'; "
           "form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="fairframe explore">\n'
        f"<title>{_e(title)}</title>\n<script>{ERROR_HOOK}</script>\n"
        f"<style>{CSS}{EXPLORE_CSS}</style>\n</head>\n"
    )


def _img(thumb: Thumbnail | None, alt: str, size: int, *, width: int | None = None) -> str:
    w = width or size
    if thumb is None or thumb.data_uri is None:
        why = (thumb.problem if thumb else None) or "no thumbnail"
        return (f'<span class="ph" role="img" aria-label="{_e(alt)}: {_e(why)}" '
                f'style="width:{w}px;height:{w}px">{_e(why)}</span>')
    return (f'<img src="{thumb.data_uri}" alt="{_e(alt)}" width="{w}" height="{w}" '
            'loading="lazy" style="object-fit:cover">')


class _Ctx:
    """Lookups shared by the sections."""

    def __init__(self, data: Mapping[str, Any], thumbs: Sequence[Thumbnail], size: int) -> None:
        self.data = data
        self.thumbs = thumbs
        self.size = size
        self.items: list[Mapping[str, Any]] = list(data["items"])
        self.caption_text = {c["caption_id"]: c["caption"] for c in data["captions"]}
        self.k = int(data["clusters"]["k"])
        self.models: list[str] = list(data.get("models") or [])
        self.multi = len(self.models) > 1

    def label(self, it: Mapping[str, Any]) -> str:
        parts = [self.caption_text.get(it["caption_id"], it["caption_id"])]
        if self.multi and it.get("model"):
            parts.append(str(it["model"]))
        if it.get("seed") is not None:
            parts.append(f"seed {it['seed']}")
        return " · ".join(parts)

    def tip(self, it: Mapping[str, Any]) -> str:
        lines = [self.label(it), it["path"]]
        if it.get("model"):
            lines.append(f"model: {it['model']}")
        lines += [f"{b}: {v}" for b, v in (it.get("groups") or {}).items()]
        if it.get("colorfulness") is not None:
            lines.append(f"colourfulness {it['colorfulness']:.1f}")
        lines.append(f"cluster {it['cluster'] + 1}")
        return "\n".join(lines)

    def thumb_button(self, i: int, size: int | None = None) -> str:
        it = self.items[i]
        return (f'<button type="button" class="thumb" data-i="{i}" title="{_e(self.tip(it))}">'
                f"{_img(self.thumbs[i], self.label(it), self.size, width=size)}</button>")


# -- header -------------------------------------------------------------------------------------
def _cards(ctx: _Ctx) -> str:
    d = ctx.data
    src, cl, faces, emb = d["source"], d["clusters"], d["faces"], d["embedder"]
    kind = {"audit-run": "audit run", "manifest": "image manifest", "folder": "folder"}
    models = ctx.models
    sources = d.get("sources") or [src]
    if len(sources) == 1:
        source = (f'{_e(kind.get(src["kind"], src["kind"]))} <span class="muted small">'
                  f'<code>{_e(src["name"])}</code></span>')
    else:
        source = f'{len(sources)} sources <span class="muted small">' + ", ".join(
            f'{_e(kind.get(s["kind"], s["kind"]))} <code>{_e(s["name"])}</code>'
            for s in sources) + "</span>"
    per_model = {m: sum(it.get("model") == m for it in ctx.items) for m in models}
    cards = [
        ("Source", source),
        ("Images", f'{src["images"]} <span class="muted small">of {src["images_found"]} found'
                   f' · {len(d["captions"])} captions</span>'),
        ("Embedder", f'<code>{_e(emb["name"])}</code> <span class="muted small">'
                     f'{_e(emb["identity"].get("model", ""))} · {emb["dim"]} dims</span>'),
        ("Clusters", f'k = {cl["k"]} <span class="muted small">silhouette '
                     f'{_f(cl["silhouette"], 2)}</span>'),
        ("Faces", (f'{faces["faces"]} of {faces["images"]} images' if faces["available"]
                   else '<span class="muted small">no face detector available</span>')),
    ]
    if models:
        cards.insert(1, ("Models" if len(models) > 1 else "Model", "<br>".join(
            f'<code>{_e(m)}</code> <span class="muted small">{per_model[m]}</span>'
            for m in models)))
    body = "".join(f'<div class="card"><div class="k">{k}</div><div class="v">{v}</div></div>'
                   for k, v in cards)
    notes = "".join(f'<p class="note" role="note">{_e(n)}</p>' for n in d.get("notes") or [])
    return f'<section class="cards" aria-label="summary">{body}</section>{notes}'


# -- images -------------------------------------------------------------------------------------
def _controls(ctx: _Ctx) -> str:
    d = ctx.data
    caps = "".join(f'<option value="{_e(c["caption_id"])}">{_e(c["caption"])} '
                   f'({c["n"]})</option>' for c in d["captions"])
    parts = [f'<label>Caption <select id="f-caption"><option value="">all captions</option>'
             f"{caps}</select></label>"]
    if ctx.multi:
        mods = "".join(f'<option value="{_e(m)}">{_e(m)} '
                       f'({sum(it.get("model") == m for it in ctx.items)})</option>'
                       for m in ctx.models)
        parts.append(f'<label>Model <select id="f-model"><option value="">all models</option>'
                     f"{mods}</select></label>")
    if d["biases"]:
        opts = "".join(
            f'<optgroup label="{_e(b)}">' + "".join(
                f'<option value="{_e(b)}={_e(v)}">{_e(b)}: {_e(v)}</option>' for v in labels)
            + "</optgroup>" for b, labels in d["biases"].items())
        parts.append(f'<label>Group <select id="f-group"><option value="">all groups</option>'
                     f"{opts}</select></label>")
    cl = "".join(f'<option value="{j}">cluster {j + 1} ({n})</option>'
                 for j, n in enumerate(d["clusters"]["sizes"]))
    parts.append(f'<label>Cluster <select id="f-cluster"><option value="">all clusters</option>'
                 f"{cl}</select></label>")
    values = [it["colorfulness"] for it in ctx.items if it.get("colorfulness") is not None]
    if values:
        top = int(max(values)) + 1
        parts.append(
            '<label>Colourfulness <input type="number" id="f-cf-min" min="0" step="1" '
            f'value="0" data-default="0" aria-label="lowest colourfulness"> to '
            f'<input type="number" id="f-cf-max" min="0" step="1" value="{top}" '
            f'data-default="{top}" aria-label="highest colourfulness"></label>')
    parts.append('<button type="button" class="link" id="f-reset">reset</button>')
    parts.append(f'<span class="count" id="grid-count" aria-live="polite">{len(ctx.items)} of '
                 f"{len(ctx.items)} images shown</span>")
    return (f'<div class="controls sticky hidden jsonly" id="grid-controls">{"".join(parts)}'
            "</div>")


def _grid(ctx: _Ctx) -> str:
    by_caption: dict[str, list[int]] = {}
    for i, it in enumerate(ctx.items):
        by_caption.setdefault(it["caption_id"], []).append(i)
    sections = []

    def li(i: int) -> str:
        it = ctx.items[i]
        cap = it["caption_id"]
        groups = [f"{b}={v}" for b, v in (it.get("groups") or {}).items()]
        cf = it.get("colorfulness")
        dot = (f'<span class="cfdot" aria-hidden="true">{cf:.0f}</span>'
               if cf is not None else "")
        return (
            f'<li class="item" data-i="{i}" data-caption="{_e(cap)}" '
            f'data-model="{_e(it.get("model") or "")}" '
            f'data-groups="{_e(json.dumps(groups, ensure_ascii=False))}" '
            f'data-cf="{"" if cf is None else cf}" data-cluster="{it["cluster"]}" '
            f'data-nn="{",".join(map(str, it["neighbors"]))}" '
            f'data-sim="{",".join(f"{s:.3f}" for s in it["similarities"])}" '
            f'data-label="{_e(ctx.label(it))}">'
            + ctx.thumb_button(i).replace("</button>", dot + "</button>") + "</li>")

    for cap, idx in by_caption.items():
        if ctx.multi:
            blocks = []
            for m in ctx.models:
                mine = [i for i in idx if ctx.items[i].get("model") == m]
                if mine:
                    blocks.append(
                        f'<div class="modelgrid" data-model="{_e(m)}"><h4><span '
                        f'class="model-tag">{_e(m)}</span> <span class="muted">{len(mine)}'
                        f'</span></h4><ul class="thumbs">{"".join(li(i) for i in mine)}</ul>'
                        "</div>")
            body = "".join(blocks)
        else:
            body = f'<ul class="thumbs">{"".join(li(i) for i in idx)}</ul>'
        sections.append(
            f'<section class="capgrid" data-caption-id="{_e(cap)}"><h3 class="caption-text">'
            f'{_e(ctx.caption_text.get(cap, cap))} <span class="muted">{len(idx)} images'
            f"</span></h3>{body}</section>")
    return (
        '<section id="grid" aria-labelledby="h-grid"><h2 id="h-grid">Images</h2>'
        '<p class="muted small">Every explored image, per caption'
        + (" and model" if ctx.multi else "") + ". The number on a thumbnail is "
        "its colourfulness; hover for its labels; click it to see its nearest neighbours.</p>"
        + _controls(ctx)
        + '<p class="note info hidden" id="grid-empty">No image matches these filters.</p>'
        + "".join(sections) + "</section>"
    )


# -- nearest neighbours -------------------------------------------------------------------------
def _neighbours(ctx: _Ctx) -> str:
    it = ctx.items[0]
    items = []
    for j, s in zip(it["neighbors"], it["similarities"], strict=True):
        o = ctx.items[j]
        items.append(f'<li data-i="{j}">{ctx.thumb_button(j, 96)}<span class="sim">cos '
                     f'{s:.3f}</span> {_e(ctx.label(o))}</li>')
    query = (f'<figure class="query">{_img(ctx.thumbs[0], ctx.label(it), ctx.size, width=160)}'
             f"<figcaption>{_e(ctx.label(it))}</figcaption></figure>")
    emb = ctx.data["embedder"]["name"]
    return (
        '<section id="neighbours" aria-labelledby="h-nn"><h2 id="h-nn">Nearest neighbours</h2>'
        f'<p class="muted small">The {len(it["neighbors"])} most similar images by cosine '
        f"similarity of their <code>{_e(emb)}</code> embeddings. Click any thumbnail on this page "
        "to make it the query.</p>"
        f'<div class="nnwrap"><div id="nn-query">{query}</div>'
        f'<ol class="nnlist" id="nn-list">{"".join(items)}</ol></div></section>'
    )


# -- clusters -----------------------------------------------------------------------------------
def _comp_bar(counts: Sequence[int], width: int = 360, height: int = 18) -> str:
    total = sum(counts)
    if total <= 0:
        return ""
    x = 0.0
    parts = []
    desc = []
    for j, c in enumerate(counts):
        if c <= 0:
            continue
        w = width * c / total
        colour = class_colour(j)
        parts.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" '
                     f'fill="{colour}"><title>cluster {j + 1}: {c} ({c / total:.0%})</title>'
                     "</rect>")
        if w >= 7 * len(str(c)) + 6:
            parts.append(f'<text x="{x + w / 2:.1f}" y="{height / 2 + 4:.0f}" font-size="11" '
                         f'text-anchor="middle" fill="{text_on(colour)}" aria-hidden="true">'
                         f"{c}</text>")
        desc.append(f"cluster {j + 1}: {c}")
        x += w
    return (f'<svg class="bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{_e(", ".join(desc))}">{"".join(parts)}</svg>')


def _clusters(ctx: _Ctx) -> str:
    cl = ctx.data["clusters"]
    k = ctx.k
    legend = "".join(f'<span><span class="sw" style="background:{class_colour(j)}"></span>'
                     f"cluster {j + 1}</span>" for j in range(k))
    head = "".join(f'<th class="num">{j + 1}</th>' for j in range(k))
    rows = []

    def tds(counts: Sequence[int]) -> str:
        cells = "".join(f'<td class="num">{c}</td>' for c in counts)
        return (f'<td class="num">{sum(counts)}</td><td class="bar">{_comp_bar(counts)}</td>'
                f"{cells}")

    if ctx.multi:
        by_model: Mapping[str, Mapping[str, list[int]]] = cl.get("composition_by_model") or {}
        blocks: list[tuple[str, list[int], list[tuple[str, list[int]]]]] = [
            ("*", [sum(v) for v in zip(*cl["composition"].values(), strict=True)],
             [(m, list((cl.get("model_sizes") or {}).get(m) or [0] * k)) for m in ctx.models])]
        blocks += [(cap, list(counts),
                    [(m, list((by_model.get(m) or {}).get(cap) or [0] * k))
                     for m in ctx.models]) for cap, counts in cl["composition"].items()]
        for cap, counts, rows_of in blocks:
            text = "all captions" if cap == "*" else ctx.caption_text.get(cap, cap)
            rows.append(f'<tr data-caption="{_e(cap)}"><th class="caption-text rowh" scope="row" '
                        f'rowspan="{len(rows_of) + 1}">{_e(text)}</th>'
                        f'<td class="muted small">all models</td>{tds(counts)}</tr>')
            rows.extend(f'<tr class="subrow" data-caption="{_e(cap)}" data-model="{_e(m)}">'
                        f'<td class="model-col" title="{_e(m)}"><span class="model-tag">{_e(m)}'
                        f"</span></td>{tds(c)}</tr>" for m, c in rows_of)
        table = (f'<div class="tablewrap"><table class="comp"><caption>Cluster membership per '
                 f'caption and model</caption><thead><tr><th>caption</th><th>model</th>'
                 f'<th class="num">n</th><th>composition</th>{head}</tr></thead>'
                 f"<tbody>{''.join(rows)}</tbody></table></div>")
    else:
        for cap, counts in cl["composition"].items():
            rows.append(f'<tr><td class="caption-text">{_e(ctx.caption_text.get(cap, cap))}</td>'
                        f"{tds(counts)}</tr>")
        table = (f'<div class="tablewrap"><table class="comp"><caption>Cluster membership per '
                 f'caption</caption><thead><tr><th>caption</th><th class="num">n</th>'
                 f"<th>composition</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
                 "</div>")
    cards = []
    captions = [it["caption_id"] for it in ctx.items]
    for j in range(k):
        members = [i for i, it in enumerate(ctx.items) if it["cluster"] == j]
        per: dict[str, int] = {}
        for i in members:
            per[captions[i]] = per.get(captions[i], 0) + 1
        top = sorted(per.items(), key=lambda kv: -kv[1])[:3]
        top_text = " · ".join(f"{ctx.caption_text.get(c, c)} {n}" for c, n in top)
        if ctx.multi:
            top_text += " — by model: " + " · ".join(
                f"{m} {sum(ctx.items[i].get('model') == m for i in members)}"
                for m in ctx.models)
        ex = "".join(f"<li>{ctx.thumb_button(i, 64)}</li>" for i in cl["examples"][j])
        cards.append(
            f'<article class="cluster" data-cluster="{j}"><h3><span class="swatch" '
            f'style="background:{class_colour(j)}"></span>Cluster {j + 1} '
            f'<span class="muted small">{len(members)} images</span></h3>'
            f'<div class="top">most from: {_e(top_text)}</div><ul class="thumbs">{ex}</ul>'
            f'<p class="small" style="margin:6px 0 0"><button type="button" class="link jsonly '
            f'hidden" data-filter="f-cluster" data-value="{j}">show all {len(members)} in the '
            "grid</button></p></article>")
    sil = cl["silhouette"]
    return (
        '<section id="clusters" aria-labelledby="h-cl"><h2 id="h-cl">Clusters</h2>'
        f'<p class="muted small">k-means (k-means++ start, seed {cl["seed"]}) on the '
        f'<code>{_e(ctx.data["embedder"]["name"])}</code> embeddings, k = {k} '
        f"({_e(cl['chosen_by'])}); mean silhouette {_f(sil, 3)} "
        "(−1 to 1; near 0: no clear structure). Clusters group images that look alike to the "
        "embedder; they do not say who is depicted. Examples are the members nearest to each "
        "centre.</p>"
        f'<div class="legend">{legend}</div>{table}<div class="clusters">{"".join(cards)}</div>'
        "</section>"
    )


# -- average faces ------------------------------------------------------------------------------
def _face_cell(cell: Mapping[str, Any] | None, uris: Mapping[str, str], size: int) -> str:
    if cell is None:
        return (f'<div class="faceph" style="width:{size}px;height:{size}px">no images in this '
                "group</div>")
    if not cell.get("file"):
        return (f'<div class="faceph" style="width:{size}px;height:{size}px">'
                f'{_e(cell.get("reason") or "no face")}</div>')
    uri = uris.get(cell["file"])
    alt = f"average of {cell['n_faces']} faces"
    img = (f'<img src="{uri}" alt="{_e(alt)}" width="{size}" height="{size}">' if uri
           else f'<div class="faceph" style="width:{size}px;height:{size}px">image missing</div>')
    return (f"<figure>{img}<figcaption>n = {cell['n_faces']} of {cell['n_images']}"
            "</figcaption></figure>")


def _faces(ctx: _Ctx, uris: Mapping[str, str]) -> str:
    f = ctx.data["faces"]
    intro = ('<section id="faces" aria-labelledby="h-af"><h2 id="h-af">Average faces</h2>')
    if not f["available"]:
        return (intro + f'<p class="note" role="note"><strong>No face detector available.'
                f'</strong> {_e(f.get("reason") or "")}. Install the <code>measure</code> extra '
                "(OpenCV) and rerun to see average faces.</p></section>")
    size = min(int(f["size"]), 96)
    cells = {(c["caption_id"], c.get("model", "*"), c["bias"], c["group"]): c
             for c in f["cells"]}
    models = ctx.models or ["*"]
    caps = [(c["caption_id"], c["caption"]) for c in ctx.data["captions"]] + [("*", "all captions")]
    biases: Mapping[str, list[str]] = ctx.data["biases"]
    opts = '<option value="*">all images</option>' + "".join(
        f'<option value="{_e(b)}">{_e(b)}</option>' for b in biases)
    select = (f'<div class="controls hidden jsonly"><label>Group by <select id="af-bias">{opts}'
              "</select></label></div>")
    groups = []
    for bias in ["*", *biases]:
        cols = [("*", "all images")] + [(v, v) for v in biases.get(bias, [])]
        if ctx.multi:
            head = ('<tr><th rowspan="2">caption</th>' + "".join(
                f'<th class="modelh mstart" colspan="{len(cols)}" scope="colgroup">'
                f'<span class="model-tag">{_e(m)}</span></th>' for m in models)
                + "</tr><tr>" + "".join(
                    f'<th{" class=mstart" if j == 0 else ""}>{_e(name)}</th>'
                    for _m in models for j, (_, name) in enumerate(cols)) + "</tr>")
        else:
            head = ("<tr><th>caption</th>" + "".join(f"<th>{_e(name)}</th>" for _, name in cols)
                    + "</tr>")
        rows = []
        for cap, text in caps:
            tds = "".join(
                f'<td{" class=mstart" if ctx.multi and j == 0 else ""} data-model="{_e(m)}">'
                + _face_cell(cells.get((cap, m, "*" if g == "*" else bias, g)), uris, size)
                + "</td>" for m in models for j, (g, _) in enumerate(cols))
            rows.append(f'<tr><th class="rowh caption-text" scope="row">{_e(text)}</th>{tds}</tr>')
        title = ("all images" if bias == "*" else f"by {bias}") + (
            ", per model" if ctx.multi else "")
        groups.append(
            f'<div class="afgroup tablewrap" data-bias="{_e(bias)}"><table class="avgfaces">'
            f"<caption>Average face per caption, {_e(title)}</caption><thead>{head}</thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")
    det = (f.get("detector") or {}).get("backend", "?")
    body = select + "".join(groups)
    if not f["faces"]:
        body = (f'<p class="note" role="note"><strong>No face found</strong> in any of the '
                f'{f["images"]} images by <code>{_e(det)}</code>, so there is nothing to average.'
                f"</p><details><summary>empty tables</summary>{body}</details>")
    return (
        intro + f'<p class="muted small">The largest face of each image (detector '
        f"<code>{_e(det)}</code>), aligned so the eyes sit at fixed positions, averaged in linear "
        f"light. {f['faces']} of {f['images']} images had a face; n under each average is faces "
        "averaged of images in the cell. Averages hide the spread: read them with n.</p>"
        + body + "</section>"
    )


# -- colourfulness ------------------------------------------------------------------------------
_LEVELS = ((0.0, "not"), (15.0, "slightly"), (33.0, "moderately"), (45.0, "averagely"),
           (59.0, "quite"), (82.0, "highly"), (109.0, "extremely"))


def _strip(values: Sequence[float], top: float, mean: float | None, width: int = 420,
           height: int = 26) -> str:
    pad = 6

    def x(v: float) -> float:
        return pad + max(0.0, min(1.0, v / top)) * (width - 2 * pad)

    parts = []
    for i, (lo, _name) in enumerate(_LEVELS):
        hi = _LEVELS[i + 1][0] if i + 1 < len(_LEVELS) else top
        if lo >= top:
            break
        parts.append(f'<rect x="{x(lo):.1f}" y="0" width="{x(min(hi, top)) - x(lo):.1f}" '
                     f'height="{height}" fill="{"#F4F4F4" if i % 2 else "#FAFAFA"}"/>')
    for v in values:
        parts.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="5" y2="{height - 5}" '
                     'stroke="#0072B2" stroke-opacity=".55" stroke-width="2"/>')
    if mean is not None:
        cx = x(mean)
        parts.append(f'<path d="M{cx:.1f} 2 L{cx + 5:.1f} 8 L{cx - 5:.1f} 8 Z" fill="#D55E00">'
                     f"<title>mean {mean:.1f}</title></path>")
    label = f"{len(values)} images, colourfulness " + ", ".join(f"{v:.0f}" for v in values[:50])
    return (f'<svg class="strip" width="{width}" height="{height}" viewBox="0 0 {width} '
            f'{height}" role="img" aria-label="{_e(label)}">{"".join(parts)}</svg>')


def _axis(top: float, width: int = 420) -> str:
    pad = 6
    parts = []
    for lo, name in _LEVELS:
        if lo >= top:
            break
        xx = pad + lo / top * (width - 2 * pad)
        parts.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="12" y2="18" stroke="#777"/>'
                     f'<text x="{xx + 2:.1f}" y="10" font-size="10" fill="#444">{lo:g}'
                     f"<title>{lo:g}: {name} colourful</title></text>")
    return (f'<svg class="axis" width="{width}" height="18" viewBox="0 0 {width} 18" role="img" '
            'aria-label="Hasler–Süsstrunk colourfulness levels">' + "".join(parts) + "</svg>")


def _colourfulness(ctx: _Ctx) -> str:
    d = ctx.data
    intro = ('<section id="colourfulness" aria-labelledby="h-cf"><h2 id="h-cf">Colourfulness'
             "</h2>")
    if not d["colorfulness"]["available"]:
        return (intro + f'<p class="note" role="note">{_e(d["colorfulness"]["reason"])}</p>'
                "</section>")
    values = [it["colorfulness"] for it in ctx.items if it.get("colorfulness") is not None]
    top = max(60.0, max(values, default=0.0) * 1.05)
    caps = sorted(d["captions"], key=lambda c: -(c["colorfulness"]["mean"] or -1.0))
    rows = []

    def show(cap: str, model: str | None = None) -> str:
        extra = "" if model is None else f' data-model="{_e(model)}"'
        return (f'<button type="button" class="link jsonly hidden" data-filter="f-caption" '
                f'data-value="{_e(cap)}"{extra}>show</button>')

    def cells(s: Mapping[str, Any], vals: Sequence[float]) -> str:
        return (f'<td class="num">{s["n"]}</td><td class="num val">{_f(s["mean"])}</td>'
                f'<td class="num">{_f(s["median"])}</td><td class="strip">'
                f'{_strip(vals, top, s["mean"])}</td>')

    for rank, c in enumerate(caps, 1):
        cap = c["caption_id"]
        vals = sorted(it["colorfulness"] for it in ctx.items
                      if it["caption_id"] == cap and it.get("colorfulness") is not None)
        if not ctx.multi:
            rows.append(
                f'<tr data-caption="{_e(cap)}"><td class="num">{rank}</td>'
                f'<td class="caption-text">{_e(c["caption"])} {show(cap)}</td>'
                + cells(c["colorfulness"], vals) + "</tr>")
            continue
        by_model = c.get("by_model") or {}
        span = len(ctx.models) + 1
        rows.append(
            f'<tr data-caption="{_e(cap)}"><td class="num" rowspan="{span}">{rank}</td>'
            f'<td class="caption-text" rowspan="{span}">{_e(c["caption"])} {show(cap)}</td>'
            '<td class="muted small">all models</td>' + cells(c["colorfulness"], vals) + "</tr>")
        for m in ctx.models:
            mvals = sorted(it["colorfulness"] for it in ctx.items
                           if it["caption_id"] == cap and it.get("model") == m
                           and it.get("colorfulness") is not None)
            summ = (by_model.get(m) or {}).get("colorfulness") or {
                "n": len(mvals), "mean": None, "median": None}
            rows.append(
                f'<tr class="subrow" data-caption="{_e(cap)}" data-model="{_e(m)}">'
                f'<td class="model-col" title="{_e(m)}"><span class="model-tag">{_e(m)}</span> '
                f"{show(cap, m)}</td>" + cells(summ, mvals) + "</tr>")
    model_th = "<th>model</th>" if ctx.multi else ""
    return (
        intro + '<p class="muted small">Hasler–Süsstrunk colourfulness <em>M</em> of each image '
        "(0 = grey; 15 slightly, 33 moderately, 45 averagely, 59 quite, 82 highly, 109 extremely "
        "colourful). Captions sorted by mean" + (", one strip per model" if ctx.multi else "")
        + "; each tick is one image, the triangle the mean. A "
        "caption whose images are all drab or all vivid is a visual stereotype worth a look.</p>"
        '<div class="tablewrap"><table class="cf"><thead><tr><th class="num">#</th>'
        f'<th>caption</th>{model_th}<th class="num">n</th><th class="num">mean</th>'
        f'<th class="num">median</th><th>{_axis(top)}</th></tr></thead><tbody>{"".join(rows)}'
        "</tbody></table></div></section>"
    )


def _how_to_read(ctx: _Ctx) -> str:
    emb = ctx.data["embedder"]
    return (
        '<section id="how" aria-labelledby="h-how"><h2 id="h-how">How to read this page</h2>'
        '<dl class="howto">'
        "<dt>What this is for</dt><dd>Looking at what a model makes for each caption without "
        "first deciding which labels matter (as the Stable Bias tools do). Nothing here is a "
        "score; use <code>fairframe audit</code> for measured, interval-backed biases.</dd>"
        f"<dt>Similarity</dt><dd>Cosine similarity of <code>{_e(emb['name'])}</code> "
        "embeddings. The offline <code>colour-hog</code> embedder compares palette, layout and "
        "edges only; CLIP compares content. Neither sees identity.</dd>"
        "<dt>Clusters</dt><dd>Depend on the embedder and on k. A caption spread over many "
        "clusters shows varied images; one concentrated in one cluster, uniform images.</dd>"
        "<dt>Average faces</dt><dd>Generated faces are not people. An average blurs away "
        "variety; n says how many faces it rests on.</dd></dl></section>"
    )


def render_page(data: Mapping[str, Any], thumbs: Sequence[Thumbnail],
                face_uris: Mapping[str, str], *, thumbnail_size: int = 96) -> str:
    """The page for ``data`` (the ``explore.json`` object), with one thumbnail per item (in item
    order) and the average faces' ``data:`` URIs by their ``file`` name."""
    if len(thumbs) != len(data["items"]):
        raise ValueError(f"{len(thumbs)} thumbnails for {len(data['items'])} items")
    ctx = _Ctx(data, thumbs, thumbnail_size)
    title = f"Explore · {data['source']['name']}"
    shown_path = "; ".join(s["path"] for s in data.get("sources") or []) or data["source"]["path"]
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("grid", "Images"), ("neighbours", "Nearest neighbours"), ("clusters", "Clusters"),
        ("faces", "Average faces"), ("colourfulness", "Colourfulness"), ("how", "How to read")))
    return (
        _head(title)
        + '<body>\n<header class="top"><div class="wrap">'
        f"<h1>{_e(title)}</h1><p><code>{_e(shown_path)}</code></p>"
        f'<nav class="toc" aria-label="sections">{nav}</nav></div></header>\n<main>'
        + _cards(ctx) + _grid(ctx) + _neighbours(ctx) + _clusters(ctx)
        + _faces(ctx, face_uris) + _colourfulness(ctx) + _how_to_read(ctx)
        + '<footer>Written by <code>fairframe explore</code>. Works offline: nothing on this page '
        "loads from the network.</footer></main>\n"
        f"<script>{EXPLORE_SCRIPT}</script>\n</body>\n</html>\n"
    )
