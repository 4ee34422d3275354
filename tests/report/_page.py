"""Read a report page (as written, or as dumped by a browser) with the standard HTML parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Page:
    """What the report tests look at."""

    html_attrs: dict[str, str] = field(default_factory=dict)
    bias_rows: list[str] = field(default_factory=list)  # data-bias-id, in document order
    row_status: dict[str, str] = field(default_factory=dict)
    images: list[dict[str, str]] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)  # aria-labels of missing images
    scripts: list[str] = field(default_factory=list)  # inline script texts
    external: list[str] = field(default_factory=list)  # src/href values that leave the page
    intersection_tables: list[tuple[str, str]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._table: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        p = self.page
        if tag == "html":
            p.html_attrs = a
        if tag == "table":
            self._table.append(a.get("id", ""))
            if "intersection" in a.get("class", "").split():
                p.intersection_tables.append((a["data-row-bias"], a["data-col-bias"]))
        if tag == "tr" and "data-bias-id" in a:
            assert self._table and self._table[-1] == "bias-table", "bias row outside the table"
            p.bias_rows.append(a["data-bias-id"])
            p.row_status[a["data-bias-id"]] = a.get("data-status", "")
        if tag == "img":
            p.images.append(a)
        if "ph" in a.get("class", "").split():
            p.placeholders.append(a.get("aria-label", ""))
        if tag == "script":
            self._in_script = True
            p.scripts.append("")
            if "src" in a:
                p.external.append(a["src"])
        for key in ("src", "href"):
            v = a.get(key, "")
            if v and not v.startswith(("#", "data:")):
                p.external.append(v)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._table:
            self._table.pop()
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.page.scripts[-1] += data
        else:
            self.page.text.append(data)


def parse_page(html: str) -> Page:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.page
