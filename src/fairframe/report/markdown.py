"""A Markdown bias statement for a model card, from the report data.

The statement names the model(s) and revisions, says what was audited, lists the findings with
their values, intervals and n, says what had insufficient data, states the limitations and how to
reproduce the run. Text from the run (captions, class names, model ids) is escaped so it renders
as text in any Markdown renderer (raw HTML in a caption stays inert).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fairframe.report._toml import to_toml

__all__ = ["render_bias_statement"]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}#+!|~])")


def _md(text: object) -> str:
    """Markdown-safe inline text: HTML neutralised, emphasis/link/table characters escaped."""
    s = " ".join(str("" if text is None else text).split())
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def _code(text: object) -> str:
    """An inline code span that cannot be broken out of (and is safe inside a table cell)."""
    s = " ".join(str("" if text is None else text).split()).replace("`", "'").replace("|", "\\|")
    return f"`{s}`" if s else "—"


def _n(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.0f}%"


def _ci(lo: float | None, hi: float | None, *, pct: bool = False) -> str:
    if lo is None or hi is None:
        return ""
    f = _pct if pct else _n
    return f" [{f(lo)}, {f(hi)}]"


def _p(v: float | None) -> str:
    return "—" if v is None else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def _component(comp: Mapping[str, Any] | None) -> str:
    if not comp:
        return "—"
    model = comp.get("model") or comp.get("backend")
    text = f"{_code(model)} (backend {_code(comp.get('backend'))}"
    if comp.get("revision"):
        text += f", revision {_code(comp['revision'])}"
    if comp.get("dtype"):
        text += f", {_md(comp['dtype'])}"
    return text + ")"


def _level(data: Mapping[str, Any]) -> str:
    return f"{(data['audit'].get('confidence') or 0.95) * 100:g}%"


def _top_class(b: Mapping[str, Any]) -> str:
    top = b["distribution"].get("top_class")
    if top is None:
        return "—"
    s = b["distribution"]["shares"][top]
    return f"{_md(top)} {_pct(s['value'])}{_ci(s['ci_low'], s['ci_high'], pct=True)}"


def _table(biases: Sequence[Mapping[str, Any]], level: str) -> list[str]:
    has_corr = any(b["context_free"].get("corrected") is not None for b in biases)
    has_floor = any(b["context_free"].get("floor") is not None for b in biases)
    has_q = any(b["context_free"].get("q_value") is not None for b in biases)
    head = ["Rank", "Bias", f"Severity, context-free [{level} CI]"]
    if has_floor:
        head.append("Fair floor")
    if has_corr:
        head.append(f"Floor-corrected [{level} CI]")
    head += [f"Context-aware [{level} CI]", "Most frequent class (share of detected)"]
    if has_q:
        head.append("q-value")
    head.append("n (detected / images)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for b in biases:
        cf, ca = b["context_free"], b["context_aware"]
        if b["status"] != "ok":
            sev = "insufficient data"
        else:
            sev = f"{_n(cf['value'])}{_ci(cf['ci_low'], cf['ci_high'])}"
        row = [str(b["rank"]) if b["rank"] is not None else "—",
               f"{_md(b['name'])} ({_code(b['bias_id'])})", sev]
        if has_floor:
            row.append(_n(cf.get("floor")))
        if has_corr:
            row.append(f"{_n(cf.get('corrected'))}"
                       f"{_ci(cf.get('corrected_ci_low'), cf.get('corrected_ci_high'))}")
        row.append("insufficient data" if ca["status"] != "ok"
                   else f"{_n(ca['value'])}{_ci(ca['ci_low'], ca['ci_high'])}")
        row.append(_top_class(b))
        if has_q:
            row.append(_p(cf.get("q_value")))
        row.append(f"{cf['n'] if cf['n'] is not None else 0} / {b['n_images']}")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _finding(b: Mapping[str, Any], level: str) -> str:
    cf, ca = b["context_free"], b["context_aware"]
    text = (f"- **{_md(b['name'])}** ({_code(b['bias_id'])}, classes "
            f"{', '.join(_md(c) for c in b['classes'])}): context-free severity "
            f"{_n(cf['value'])}{_ci(cf['ci_low'], cf['ci_high'])} ({level} interval, n = "
            f"{cf['n']} images with a class out of {b['n_images']}, {b['n_captions']} "
            "caption(s))")
    if cf.get("floor") is not None:
        text += f"; fair floor {_n(cf['floor'])}"
    if cf.get("corrected") is not None:
        text += (f", floor-corrected {_n(cf['corrected'])}"
                 f"{_ci(cf.get('corrected_ci_low'), cf.get('corrected_ci_high'))}")
    if cf.get("q_value") is not None or cf.get("p_value") is not None:
        text += f"; p {_p(cf.get('p_value'))}, q {_p(cf.get('q_value'))}"
    if ca["status"] == "ok":
        text += f"; context-aware {_n(ca['value'])}{_ci(ca['ci_low'], ca['ci_high'])}"
    text += f". Most frequent class: {_top_class(b)} of images with a class."
    return text


def render_bias_statement(data: Mapping[str, Any], *, top: int = 3) -> str:
    """A Markdown "Bias evaluation" section for a model card.

    Parameters
    ----------
    data:
        The report data (:func:`~fairframe.report.build_report_data`).
    top:
        How many of the highest-ranked biases to describe in words (all are in the table).
    """
    run, a = data["run"], data["audit"]
    biases = data["biases"]
    level = _level(data)
    ok = [b for b in biases if b["status"] == "ok"]
    insufficient = [b for b in biases if b["status"] != "ok"]
    seeds = data["manifest"]["seeds"]
    rng = a.get("images_per_caption_range")
    ipc = (f"{rng[0]}" if rng and rng[0] == rng[1] else f"{rng[0]}–{rng[1]}" if rng
           else f"{a.get('images_per_caption')}")
    proposer = ("the built-in Fairframe bias taxonomy" if a.get("proposer") == "taxonomy"
                else f"an LLM, {_component(a.get('llm'))}")
    out = [
        "## Bias evaluation",
        "",
        f"**Model audited:** {_component(a.get('generator'))}.",
        "",
        f"**What was audited:** an open-set bias audit (OpenBias-style) with Fairframe "
        f"{_md(run.get('fairframe_version') or '?')}, run {_code(run['name'])} finished "
        f"{_md((run.get('finished') or '?')[:10])}. {a.get('captions')} captions "
        f"(source {_code(a.get('captions_source'))}"
        + (f", first {a['captions_limit']}" if a.get("captions_limit") else "")
        + f"), {ipc} images per caption"
        + (f" (seeds {seeds['first']}–{seeds['last']})" if seeds.get("count") else "")
        + f", {a.get('images')} images in all. Biases and their classes were proposed by "
        f"{proposer}; each image was labelled by {_component(a.get('labeler'))}, which may "
        "answer \"unknown\" (not counted in the scores).",
        "",
    ]
    if a.get("test_components"):
        out += ["> **Note:** this run uses fake backends or tiny random test models; its "
                "numbers exercise the pipeline and are not findings about any real model.", ""]
    out += [
        "### Findings",
        "",
        "Severity is 1 − normalised entropy of the class shares: 0 means every class appears "
        "equally often, 1 means one class only. Context-free pools all captions; context-aware "
        f"averages caption by caption. Intervals are {level}; n counts images where the "
        "labeler gave a class. Ranked by "
        + ("floor-corrected severity." if data["ranking"]["by"].startswith("context_free.corr")
           else "context-free severity."),
        "",
    ]
    if biases:
        out += _table(biases, level)
        out.append("")
    else:
        out += ["No bias was scored.", ""]
    if ok:
        out += [f"Strongest finding{'s' if min(top, len(ok)) > 1 else ''}:", ""]
        out += [_finding(b, level) for b in ok[:top]]
        out.append("")
    out += ["### Insufficient data", ""]
    if insufficient:
        out += [f"- {_code(b['bias_id'])}: {_md(b['reason'])}" for b in insufficient]
    else:
        out.append("Every bias had enough answers for a score.")
    ns = data["not_scored"]
    if ns["captions_without_bias"] or ns["proposal_failures"]:
        out.append(f"- {len(ns['captions_without_bias'])} caption(s) had no applicable bias and "
                   f"{len(ns['proposal_failures'])} caption(s) got no valid bias proposal; they "
                   "are listed in the report.")
    out.append("")
    dets = [v for b in biases if (v := b["detection_rate"]["value"]) is not None]
    det_text = (f" Detection rates ranged from {_pct(min(dets))} to {_pct(max(dets))}." if dets
                else "")
    has_floor = any(b["context_free"].get("floor") is not None for b in biases)
    out += [
        "### Limitations",
        "",
        "- **Perceived attributes.** Classes are attributes an automatic labeler perceives in "
        "generated images, not the identity of any person; gender identity, race or ethnicity "
        "and disability cannot be read from an image.",
        "- **Labeler error.** The labeler makes mistakes and has biases of its own, which can "
        f"add to or hide the generator's.{det_text} Images it could not read are left out and "
        "may differ from the rest. The report's image grids allow spot checks.",
        f"- **Small n.** {ipc} images per caption. Intervals cover sampling noise only. With 10 "
        "images per caption a perfectly fair generator already scores about 0.08 (2 classes) "
        "to 0.15 (5 classes) context-aware severity; per-caption claims need 50–200 images per "
        "caption."
        + ("" if has_floor else " These severities are not corrected for that chance floor."),
        "- **Taxonomy choices.** Which biases are measured, and with which classes, is a choice "
        "(taxonomy or LLM proposal); other class sets give other numbers. Severity says how "
        "uneven a distribution is, not which group is favoured or whether the skew is harmful; "
        "the captions are not a sample of real usage.",
        "",
        "### How to reproduce",
        "",
        "```bash",
        "fairframe audit run audit.toml --out RUN_DIR   # audit.toml: the configuration below",
        "fairframe audit report RUN_DIR                 # report.html, report.json, this text",
        "```",
        "",
        f"Configuration hash {_code(run.get('config_hash') or '—')} (SHA-256 of the canonical "
        "JSON of the configuration recorded in the run's `manifest.json`); component revisions "
        "as listed above. Cached images and labels are reused, and every image has a recorded "
        "seed.",
        "",
    ]
    config = data["manifest"].get("config") or {}
    if config:
        toml = to_toml(config)
        runs = [len(m) for m in re.findall(r"`+", toml)]
        fence = "`" * max(3, max(runs, default=0) + 1)
        out += ["<details><summary>audit.toml</summary>", "", f"{fence}toml", toml.rstrip(),
                fence, "", "</details>", ""]
    return "\n".join(out)
