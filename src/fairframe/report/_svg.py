"""Inline SVG charts for the report: severity intervals (a forest plot split over table rows),
stacked class distributions and the colour scales. No JavaScript, no external resources.

Colours: the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies) for
classes, a neutral grey for ``unknown``, and a single-hue blue ramp for shaded table cells. Every
chart has a ``<title>`` and an ``aria-label`` and sits next to the same numbers in a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = [
    "CA_COLOUR",
    "CF_COLOUR",
    "UNKNOWN_COLOUR",
    "class_colour",
    "heat_colours",
    "severity_axis",
    "severity_interval",
    "stacked_bar",
    "text_on",
]

#: Okabe & Ito (2008), black last.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
             "#000000")
UNKNOWN_COLOUR = "#BDBDBD"
CF_COLOUR = "#0072B2"
CA_COLOUR = "#D55E00"
FLOOR_FILL = "#E4E4E4"

SEVERITY_WIDTH = 240
_PAD = 10


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _mix(hex_colour: str, weight: float) -> str:
    """``hex_colour`` mixed with white (``weight`` = share of white)."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    r, g, b = (round(c + (255 - c) * weight) for c in (r, g, b))
    return f"#{r:02X}{g:02X}{b:02X}"


def class_colour(i: int) -> str:
    """Colour of the ``i``-th class: Okabe-Ito, then lighter tints of it past eight classes."""
    base = OKABE_ITO[i % len(OKABE_ITO)]
    tint = (i // len(OKABE_ITO)) % 3
    return _mix(base, 0.45 * tint) if tint else base


def _luminance(hex_colour: str) -> float:
    def lin(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else float(((s + 0.055) / 1.055) ** 2.4)

    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def text_on(background: str) -> str:
    """Black or white, whichever contrasts more with ``background``."""
    lum = _luminance(background)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#FFFFFF"


def heat_colours(value: float | None, top: float) -> tuple[str, str]:
    """(background, text) for a share on a white-to-blue ramp scaled to the table's ``top``."""
    if value is None:
        return "#FFFFFF", "#000000"
    t = 0.0 if top <= 0 else max(0.0, min(1.0, value / top))
    bg = _mix("#08519C", 1 - 0.92 * t)
    return bg, text_on(bg)


def _x(v: float, width: int) -> float:
    return _PAD + max(0.0, min(1.0, v)) * (width - 2 * _PAD)


def severity_axis(width: int = SEVERITY_WIDTH) -> str:
    """The 0-1 axis drawn above the severity column."""
    parts = [f'<svg class="axis" width="{width}" height="18" viewBox="0 0 {width} 18" '
             'role="img" aria-label="severity axis from 0 (balanced) to 1 (one class only)">']
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = _f(_x(t, width))
        anchor = "start" if t == 0 else "end" if t == 1 else "middle"
        xt = _f(_x(t, width) - (4 if t == 0 else -4 if t == 1 else 0))
        label = "0" if t == 0 else "1" if t == 1 else f"{t:g}"
        parts.append(f'<line x1="{x}" x2="{x}" y1="13" y2="18" stroke="#555"/>'
                     f'<text x="{xt}" y="10" font-size="10" text-anchor="{anchor}" '
                     f'fill="#333">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _whisker(lo: float, hi: float, y: float, colour: str, width: int, stroke: float) -> str:
    x1, x2 = _f(_x(lo, width)), _f(_x(hi, width))
    return (f'<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="{colour}" '
            f'stroke-width="{stroke}"/>'
            f'<line x1="{x1}" x2="{x1}" y1="{y - 4}" y2="{y + 4}" stroke="{colour}" '
            f'stroke-width="{stroke}"/>'
            f'<line x1="{x2}" x2="{x2}" y1="{y - 4}" y2="{y + 4}" stroke="{colour}" '
            f'stroke-width="{stroke}"/>')


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def severity_interval(cf: Mapping[str, Any], ca: Mapping[str, Any],
                      width: int = SEVERITY_WIDTH) -> str:
    """One row of the forest plot: the fair-floor region, then context-free (filled circle, blue)
    and context-aware (open diamond, vermillion) severities with their intervals."""
    h = 32
    floor = cf.get("floor")
    desc = []
    parts = [f'<rect x="{_PAD}" y="1" width="{width - 2 * _PAD}" height="{h - 2}" '
             'fill="#FAFAFA" stroke="#DDD"/>']
    for t in (0.25, 0.5, 0.75):
        x = _f(_x(t, width))
        parts.append(f'<line x1="{x}" x2="{x}" y1="1" y2="{h - 1}" stroke="#EEE"/>')
    if isinstance(floor, float):
        fx = _x(floor, width)
        parts.append(f'<rect class="floor" x="{_PAD}" y="1" width="{_f(fx - _PAD)}" '
                     f'height="{h - 2}" fill="{FLOOR_FILL}"/>'
                     f'<line x1="{_f(fx)}" x2="{_f(fx)}" y1="1" y2="{h - 1}" stroke="#555" '
                     'stroke-dasharray="3 2"/>')
        desc.append(f"fair floor {_fmt(floor)}")
    if cf.get("status") == "ok":
        v, lo, hi = cf["value"], cf.get("ci_low"), cf.get("ci_high")
        if lo is not None and hi is not None:
            parts.append(_whisker(lo, hi, 11, CF_COLOUR, width, 2))
        parts.append(f'<circle class="cf" cx="{_f(_x(v, width))}" cy="11" r="4.5" '
                     f'fill="{CF_COLOUR}" stroke="#FFF"/>')
        desc.append(f"context-free {_fmt(v)} [{_fmt(lo)}, {_fmt(hi)}]")
    if ca.get("status") == "ok":
        v, lo, hi = ca["value"], ca.get("ci_low"), ca.get("ci_high")
        if lo is not None and hi is not None:
            parts.append(_whisker(lo, hi, 23, CA_COLOUR, width, 1.5))
        cx = _x(v, width)
        parts.append(f'<path class="ca" d="M{_f(cx)} 18.5 L{_f(cx + 4.5)} 23 L{_f(cx)} 27.5 '
                     f'L{_f(cx - 4.5)} 23 Z" fill="#FFF" stroke="{CA_COLOUR}" '
                     'stroke-width="1.6"/>')
        desc.append(f"context-aware {_fmt(v)} [{_fmt(lo)}, {_fmt(hi)}]")
    if cf.get("status") != "ok" and ca.get("status") != "ok":
        parts.append(f'<text x="{width / 2:.0f}" y="20" font-size="11" text-anchor="middle" '
                     'fill="#444">insufficient data</text>')
        desc.append("insufficient data")
    label = "severity: " + "; ".join(desc)
    return (f'<svg class="sev" width="{width}" height="{h}" viewBox="0 0 {width} {h}" '
            f'role="img" aria-label="{_e(label)}"><title>{_e(label)}</title>'
            + "".join(parts) + "</svg>")


def stacked_bar(segments: Sequence[tuple[str, int, str]], unknown: int, *, width: int = 300,
                height: int = 20, subject: str = "", labels: str = "count") -> str:
    """Counts per class as a stacked bar over all images, ``unknown`` apart in grey at the end.

    ``segments`` are ``(class, count, colour)``. Each segment carries a ``<title>``; counts (or,
    with ``labels="share"``, percentages) are written inside segments wide enough to hold them.
    """
    total = sum(c for _, c, _ in segments) + unknown
    known = total - unknown
    what = f" for {subject}" if subject else ""
    if total <= 0:
        return (f'<svg class="bar" width="{width}" height="{height}" role="img" '
                f'aria-label="no images{_e(what)}"><rect width="{width}" height="{height}" '
                'fill="#FFF" stroke="#BBB" stroke-dasharray="3 2"/><text x="6" '
                f'y="{height - 6}" font-size="11" fill="#444">no images</text></svg>')
    gap = 3 if unknown and known else 0
    usable = width - gap
    parts: list[str] = []
    desc: list[str] = []
    x = 0.0
    for name, count, colour in segments:
        if count <= 0:
            desc.append(f"{name} 0")
            continue
        w = usable * count / total
        share = f"{count / known:.0%}" if known else ""
        tip = (f"{name}: {share}" if labels == "share"
               else f"{name}: {count} ({share} of images with a class)")
        text = share if labels == "share" else str(count)
        parts.append(f'<rect x="{_f(x)}" y="0" width="{_f(w)}" height="{height}" '
                     f'fill="{colour}"><title>{_e(tip)}</title></rect>')
        if w >= 7 * len(text) + 6:
            parts.append(f'<text x="{_f(x + w / 2)}" y="{height / 2 + 4:.0f}" font-size="11" '
                         f'text-anchor="middle" fill="{text_on(colour)}" '
                         f'aria-hidden="true">{text}</text>')
        desc.append(f"{name} {text}")
        x += w
    if unknown:
        x += gap
        w = usable * unknown / total
        tip = f"unknown: {unknown} ({unknown / total:.0%} of all images; not in the severity)"
        parts.append(f'<rect class="unknown" x="{_f(x)}" y="0" width="{_f(w)}" '
                     f'height="{height}" fill="{UNKNOWN_COLOUR}"><title>{_e(tip)}</title></rect>')
        if w >= 8 * len(str(unknown)) + 4:
            parts.append(f'<text x="{_f(x + w / 2)}" y="{height / 2 + 4:.0f}" font-size="11" '
                         f'text-anchor="middle" fill="#000" aria-hidden="true">{unknown}</text>')
    if labels != "share":
        desc.append(f"unknown {unknown}")
    label = ("shares" if labels == "share" else "counts") + f"{what}: " + ", ".join(desc)
    return (f'<svg class="bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{_e(label)}">' + "".join(parts) + "</svg>")
