"""The stylesheet and the two small scripts inlined into ``report.html``.

``ERROR_HOOK`` runs first (in ``<head>``) and records every uncaught error, rejected promise,
failed resource and ``console.error`` call into ``data-js-errors`` / ``data-js-error-count`` on the
``<html>`` element, so a headless browser test can read them from the dumped DOM. ``SCRIPT`` adds
sorting and filtering to the tables and finally sets ``data-js-ready="1"``. The page is complete
without either: every number is in the HTML.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["CSS", "ERROR_HOOK", "SCRIPT", "csp_hash"]

CSS = """
:root{--ink:#1a1a1a;--muted:#555;--line:#d0d0d0;--soft:#f5f6f7;--accent:#0072B2;--warn:#8a5a00;
--warnbg:#fff6e0;--bad:#a33;color-scheme:light}
*{box-sizing:border-box}
html{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:#fff}
body{margin:0}
main{max-width:1240px;margin:0 auto;padding:0 24px 48px}
header.top{background:#14213d;color:#fff;padding:20px 0 18px}
header.top .wrap{max-width:1240px;margin:0 auto;padding:0 24px}
header.top h1{margin:0 0 4px;font-size:1.6rem;font-weight:650}
header.top p{margin:0;color:#d8deea}
header.top code{color:#fff}
nav.toc{font-size:.9rem;margin:10px 0 0}
nav.toc a{color:#cfe3ff;margin-right:14px}
h2{font-size:1.3rem;margin:36px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--ink)}
h3{font-size:1.1rem;margin:0 0 6px}
h4{font-size:.95rem;margin:18px 0 6px;color:#333}
a{color:#005a8c}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86em}
.muted{color:var(--muted)}
.small{font-size:.85rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:18px 0}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px;background:#fff}
.card .k{font-size:.78rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.card .v{font-size:1.05rem;font-weight:600;overflow-wrap:anywhere}
.note{border-left:4px solid #e0a100;background:var(--warnbg);padding:8px 12px;margin:12px 0;
border-radius:0 4px 4px 0}
.note.info{border-color:var(--accent);background:#eef6fb}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:.9rem}
caption{text-align:left;font-weight:600;padding:4px 0 6px;color:#333}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:middle}
thead th{background:var(--soft);font-weight:600;border-bottom:2px solid #999;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.ci{display:block;color:var(--muted);font-size:.8rem;white-space:nowrap}
.val{font-weight:600;font-variant-numeric:tabular-nums}
.sub{display:block;color:var(--muted);font-size:.8rem}
.tablewrap{overflow-x:auto}
table.dist,table.intersection{width:auto;min-width:55%}
th button.sort{all:unset;cursor:pointer}
th button.sort:focus-visible{outline:2px solid var(--accent)}
th button.sort::after{content:" \\2195";color:#999;font-size:.8em}
th[aria-sort=ascending] button.sort::after{content:" \\2191";color:var(--ink)}
th[aria-sort=descending] button.sort::after{content:" \\2193";color:var(--ink)}
#bias-table td.chart,#bias-table th.chart{padding:2px 6px;width:252px}
#bias-table tbody tr:hover{background:#fafcff}
#bias-table .bname{font-weight:600}
#bias-table .rank{font-weight:700;font-size:1.05rem}
tr.insufficient td{color:#666;
background:repeating-linear-gradient(135deg,#fff 0 8px,#f7f7f7 8px 16px)}
.badge{display:inline-block;font-size:.72rem;padding:1px 6px;border-radius:8px;border:1px solid;
white-space:nowrap;vertical-align:middle}
.badge.insuf{color:#6b4e00;border-color:#c9a227;background:#fff8e1}
.badge.sig{color:#0b4f2b;border-color:#2e8b57;background:#eaf7ef}
.controls{display:flex;gap:16px;align-items:center;flex-wrap:wrap;margin:8px 0}
.controls input[type=search]{padding:5px 8px;border:1px solid #999;border-radius:4px;
min-width:240px}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;font-size:.84rem;margin:6px 0;align-items:center}
.legend .sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;
vertical-align:-1px;border:1px solid rgba(0,0,0,.25)}
.legend svg{vertical-align:middle}
section.bias{border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:18px 0;
break-inside:auto}
section.bias > header{display:flex;justify-content:space-between;gap:12px;flex-wrap:wrap;
align-items:baseline}
.kv{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:8px;margin:8px 0}
.kv div{background:var(--soft);border-radius:4px;padding:6px 8px}
.kv .k{font-size:.75rem;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.grids{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:10px}
figure.classgrid{margin:0;border:1px solid var(--line);border-radius:6px;padding:6px 8px 8px}
figure.classgrid figcaption{font-size:.85rem;margin-bottom:4px}
ul.thumbs{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:4px}
ul.thumbs li{margin:0;padding:0}
ul.thumbs img{display:block;border-radius:3px;border:1px solid #ccc;background:#eee}
.ph{display:flex;align-items:center;justify-content:center;text-align:center;font-size:.68rem;
color:#555;background:repeating-linear-gradient(45deg,#eee 0 6px,#f8f8f8 6px 12px);
border:1px dashed #999;border-radius:3px;padding:2px;overflow:hidden}
td.heat{text-align:center;font-variant-numeric:tabular-nums;min-width:84px}
td.heat .ci{color:inherit;opacity:.85}
dl.howto dt{font-weight:650;margin-top:12px}
dl.howto dd{margin:2px 0 0 0;max-width:78ch}
details{margin:6px 0}
details summary{cursor:pointer;color:#234}
pre{background:var(--soft);padding:8px 10px;border-radius:4px;overflow:auto;font-size:.8rem;
white-space:pre-wrap;overflow-wrap:anywhere}
.bars{display:inline-block;height:9px;background:#7aa6c8;border-radius:2px;vertical-align:middle}
.caption-text{overflow-wrap:anywhere}
footer{margin-top:40px;color:var(--muted);font-size:.85rem}
.hidden,tr.filtered{display:none}
@media print{
 html{font-size:11px}
 header.top{background:none;color:#000;border-bottom:2px solid #000}
 header.top p,nav.toc a{color:#000}
 nav.toc,.controls,.noprint{display:none}
 main{max-width:none;padding:0}
 section.bias{break-inside:avoid-page;border-color:#999}
 tr,figure,svg{break-inside:avoid}
 .tablewrap{overflow:visible}
 #bias-table td.chart,#bias-table th.chart{width:auto}
 svg.sev,svg.axis{width:120px;height:auto}
 #bias-table{font-size:.8rem}
 #bias-table thead th{white-space:normal}
 .badge.sig{display:none}
 #bias-table td:nth-child(2){max-width:170px}
 header.top code{color:#000}
 svg.bar{max-width:100%;height:auto}
 th,td{padding:3px 4px}
 .grids{grid-template-columns:repeat(4,1fr)}
 ul.thumbs img{width:48px;height:auto}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 a{color:#000;text-decoration:none}
 details{display:block}
}
"""

ERROR_HOOK = """(function(){var d=document.documentElement;function rec(m){
var n=Number(d.getAttribute('data-js-error-count')||'0')+1;
d.setAttribute('data-js-error-count',String(n));
var all=(d.getAttribute('data-js-errors')||'')+(n>1?' | ':'')+m;
d.setAttribute('data-js-errors',all.slice(0,4000));}
window.addEventListener('error',function(e){var t=e&&e.target;
if(t&&t!==window&&t.tagName){
rec('resource failed: '+t.tagName+' '+(t.getAttribute('src')||'').slice(0,60));}
else{rec('error: '+(e.message||'unknown')+' at '+(e.lineno||0)+':'+(e.colno||0));}},true);
window.addEventListener('unhandledrejection',function(e){
rec('unhandled rejection: '+String(e.reason));});
var ce=console.error;console.error=function(){
rec('console.error: '+Array.prototype.join.call(arguments,' '));
return ce.apply(console,arguments);};
document.addEventListener('securitypolicyviolation',function(e){
rec('csp: '+e.violatedDirective);});
})();"""

SCRIPT = """(function(){
function key(td,kind){var v=td?td.getAttribute('data-sort-value'):null;
if(v===null){v=td?td.textContent.trim():'';}
if(kind==='num'){if(v===''){return null;}var f=parseFloat(v);return isNaN(f)?null:f;}
return v.toLowerCase();}
function sortBy(table,th){var ths=Array.prototype.slice.call(th.parentNode.children);
var col=ths.indexOf(th);var kind=th.getAttribute('data-sort')||'text';
var dir=th.getAttribute('aria-sort')==='ascending'?'descending':'ascending';
ths.forEach(function(h){if(h.hasAttribute('data-sort')){h.removeAttribute('aria-sort');}});
th.setAttribute('aria-sort',dir);
var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=key(a.cells[col],kind),y=key(b.cells[col],kind);
if(x===null&&y===null){return 0;}if(x===null){return 1;}if(y===null){return -1;}
var r=x<y?-1:x>y?1:0;return dir==='ascending'?r:-r;});
rows.forEach(function(r){body.appendChild(r);});}
Array.prototype.forEach.call(document.querySelectorAll('table.sortable'),function(table){
Array.prototype.forEach.call(table.querySelectorAll('thead th[data-sort]'),function(th){
var b=document.createElement('button');b.type='button';b.className='sort';
while(th.firstChild){b.appendChild(th.firstChild);}th.appendChild(b);
b.addEventListener('click',function(){sortBy(table,th);});});});
var q=document.getElementById('bias-filter');var hide=document.getElementById('hide-insufficient');
var count=document.getElementById('bias-count');
function filter(){var text=q?q.value.trim().toLowerCase():'';var shown=0;
var rows=document.querySelectorAll('#bias-table tbody tr[data-bias-id]');
Array.prototype.forEach.call(rows,function(r){
var ok=(!text||r.textContent.toLowerCase().indexOf(text)>=0)&&
!(hide&&hide.checked&&r.getAttribute('data-status')!=='ok');
r.classList.toggle('filtered',!ok);if(ok){shown+=1;}});
if(count){count.textContent=shown+' of '+rows.length+' biases shown';}}
if(q){q.addEventListener('input',filter);}if(hide){hide.addEventListener('change',filter);}
var ctl=document.getElementById('bias-controls');if(ctl){ctl.classList.remove('hidden');}
filter();
document.documentElement.setAttribute('data-js-ready','1');
})();"""


def csp_hash(script: str) -> str:
    """The ``'sha256-...'`` source expression that allows exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
