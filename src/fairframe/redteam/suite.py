"""Red-team suites: read them from files in several public formats, or take a built-in one.

A suite is a list of :class:`~fairframe.redteam.types.SuiteItem`: a prompt, the policy category
it is about, whether the guard is ``expected`` to ``"block"`` or ``"allow"`` it, and where the
row comes from (``source``) under which licence (``license``), kept per row so that a report can
say what it was measured on.

Formats (``format=``; ``"auto"`` detects it from the extension and the header)
------------------------------------------------------------------------------
``fairframe``
    Our JSONL suite (``.jsonl``): one object per line with ``id, prompt, category, expected,
    source, license`` and an optional ``meta`` object. ``category``, ``expected``, ``source`` and
    ``license`` may be left out of a row when given to :func:`load_suite`.
``i2p``
    I2P CSV (``prompt, categories, hard, inappropriate_percentage, nudity_percentage, ...``): every
    row unsafe (``block``); the comma-separated ``categories`` are mapped with
    :data:`I2P_CATEGORIES`, the first one becoming ``category`` and all in ``meta["categories"]``.
    Default licence ``MIT``.
``overt``
    OVERT CSV (``seed_prompt, image_prompt, category, generation_type``): benign prompts that look
    harmful, every row ``allow``; ``image_prompt`` is the prompt and ``category`` is mapped with
    :data:`OVERT_CATEGORIES`. Default licence ``Apache-2.0``.
``parti``
    PartiPrompts TSV (``Prompt, Category, Challenge, Note``): benign, ``allow``, category
    ``none``. Default licence ``Apache-2.0``.
``xstest``
    XSTest CSV (``id, prompt, type, label, focus, note``): ``label`` ``safe`` -> ``allow``,
    ``unsafe`` -> ``block``; the category comes from ``type`` (:data:`XSTEST_TYPES`), refined for
    the violence types by :data:`XSTEST_KEYWORDS`. Default licence ``CC-BY-4.0``.
``rece``
    RECE validation CSV (``case_number, prompt, class, evaluation_seed``): unsafe, ``block``;
    ``class`` mapped with :data:`RECE_CLASSES`. Default licence ``Apache-2.0``.
``rece_pairs``
    RECE minimal-pair CSV (``sensitive prompt, normal prompt``): each row gives an unsafe
    ``nudity`` item (``block``) and its clothed twin (``allow``), linked by ``meta["pair"]``.
    Default licence ``Apache-2.0``.
``text``
    One prompt per line (``.txt``), or the prompt column of a CSV/TSV/JSONL file, read with
    :func:`fairframe.audit.captions.iter_text_rows`; ``category`` and ``expected`` must be given.
    Default licence ``unknown``.

The loaders' ``source`` defaults to the format name (``text``: the file's name); pass ``source=``
and ``license=`` to override them for every row. For the public formats ``category=`` and
``expected=`` override the mapped values for every row as well. The mapping tables are
approximations of each data set's own labels onto our policy categories; the original label is
always kept in ``meta``.

Validation
----------
Every suite read or written is checked: ids unique, prompts non-empty, ``category`` one of the
policy categories or ``"none"`` (``"none"`` only for ``allow`` rows), ``expected`` ``"block"`` or
``"allow"``, ``source`` and ``license`` non-empty, ``meta`` an object, and a ``meta["pair"]`` names
an item whose own ``pair`` points back. A violation is an :class:`~fairframe.errors.InputDataError`
naming the file, the line and the fix.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

from fairframe.errors import ConfigError, InputDataError
from fairframe.guard.policy import Category
from fairframe.redteam.types import Expected, SuiteItem
from fairframe.types import JSONValue

__all__ = [
    "CATEGORY_IDS",
    "DEFAULT_LICENSES",
    "I2P_CATEGORIES",
    "OVERT_CATEGORIES",
    "RECE_CLASSES",
    "SUITE_FORMATS",
    "XSTEST_KEYWORDS",
    "XSTEST_TYPES",
    "available_suites",
    "builtin_suite",
    "detect_format",
    "item_to_json",
    "load_suite",
    "validate_suite",
    "write_suite",
]

#: The formats :func:`load_suite` reads.
SUITE_FORMATS: Final = (
    "fairframe", "i2p", "overt", "parti", "xstest", "rece", "rece_pairs", "text",
)

#: Valid ``category`` values: every policy category id, and ``"none"`` for benign rows unrelated
#: to any category.
CATEGORY_IDS: Final = (*(c.value for c in Category), "none")

_EXPECTED: Final = ("block", "allow")

#: Default licence per format (from each data set's repository; see ``docs/redteam.md``).
DEFAULT_LICENSES: Final[Mapping[str, str]] = {
    "i2p": "MIT",
    "overt": "Apache-2.0",
    "parti": "Apache-2.0",
    "xstest": "CC-BY-4.0",
    "rece": "Apache-2.0",
    "rece_pairs": "Apache-2.0",
    "text": "unknown",
}

#: I2P's category labels -> policy category. ``harassment`` has no category of its own: it goes
#: to ``hate``. I2P's ``shocking`` (bodily fluids, decay, suffering) is our ``shocking``.
I2P_CATEGORIES: Final[Mapping[str, str]] = {
    "sexual": "sexual",
    "hate": "hate",
    "harassment": "hate",
    "violence": "violence",
    "self-harm": "self_harm",
    "shocking": "shocking",
    "illegal activity": "illegal",
}

#: OVERT's categories -> the policy category its benign prompts are edgy about.
#: ``unethical_unsafe_action`` (deceptive tactics, sabotage) is closest to ``deception``.
OVERT_CATEGORIES: Final[Mapping[str, str]] = {
    "violence": "violence",
    "sexual_content": "sexual",
    "self_harm": "self_harm",
    "privacy_individual": "privacy",
    "privacy_public": "privacy",
    "illegal_activities": "illegal",
    "copyright_violations": "copyright",
    "discrimination": "hate",
    "unethical_unsafe_action": "deception",
}

#: XSTest's prompt types -> policy category (before :data:`XSTEST_KEYWORDS`).
XSTEST_TYPES: Final[Mapping[str, str]] = {
    **dict.fromkeys((
        "homonyms", "contrast_homonyms", "figurative_language", "contrast_figurative_language",
        "safe_targets", "contrast_safe_targets", "safe_contexts", "contrast_safe_contexts",
        "definitions", "contrast_definitions", "historical_events", "contrast_historical_events",
    ), "violence"),
    "nons_group_real_discr": "hate",
    "real_group_nons_discr": "hate",
    "contrast_discr": "hate",
    "privacy_public": "privacy",
    "privacy_fictional": "privacy",
    "contrast_privacy": "privacy",
}

#: For XSTest rows whose type maps to ``violence``: the first pattern (case-insensitive, whole
#: words) found in the prompt or its ``note`` changes the category.
XSTEST_KEYWORDS: Final[tuple[tuple[str, str], ...]] = (
    (r"suicide|self[- ]harm|kill myself|overdose", "self_harm"),
    (r"drugs?|cocaine|heroin|meth|crack|weed|marijuana|lsd|steal\w*|stole|thefts?|rob\w*"
     r"|burglar\w*|shoplift\w*|launder\w*|counterfeit\w*|hack\w*", "illegal"),
)

#: RECE validation classes -> policy category. ``Harm`` and ``Blood`` (injuries, abuse, gore) go to
#: ``violence``; ``Harassment`` to ``hate``; ``Suffering``, ``Bodily fluids`` and ``Humiliation``
#: (degradation) to ``shocking``.
RECE_CLASSES: Final[Mapping[str, str]] = {
    "hate": "hate",
    "harassment": "hate",
    "humiliation": "shocking",
    "violence": "violence",
    "suffering": "shocking",
    "harm": "violence",
    "bodily fluids": "shocking",
    "blood": "violence",
    "suicide": "self_harm",
    "sexual": "sexual",
    "nudity": "nudity",
}

_ROW_KEYS: Final = ("id", "prompt", "category", "expected", "source", "license", "meta")

#: Header columns (lower case) that identify each table format, checked in this order.
_SIGNATURES: Final[tuple[tuple[str, frozenset[str]], ...]] = (
    ("rece_pairs", frozenset({"sensitive prompt", "normal prompt"})),
    ("i2p", frozenset({"prompt", "categories", "hard"})),
    ("i2p", frozenset({"prompt", "categories", "inappropriate_percentage"})),
    ("overt", frozenset({"image_prompt", "category"})),
    ("xstest", frozenset({"prompt", "type", "label"})),
    ("parti", frozenset({"prompt", "category", "challenge"})),
    ("rece", frozenset({"prompt", "class"})),
)
_REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    "i2p": ("prompt", "categories"),
    "overt": ("image_prompt", "category"),
    "parti": ("prompt",),
    "xstest": ("prompt", "label"),
    "rece": ("prompt", "class"),
    "rece_pairs": ("sensitive prompt", "normal prompt"),
}


# --------------------------------------------------------------------------- validation


def _where(path: str, line: int | None, unit: str = "line") -> str:
    return f"suite file {path!r}" + (f" {unit} {line}" if line is not None else "")


def _check_category(value: object, where: str, *, expected: str | None = None) -> str:
    if not isinstance(value, str) or value not in CATEGORY_IDS:
        raise InputDataError(
            f"{where}: unknown category {value!r}; use one of {', '.join(CATEGORY_IDS)}"
        )
    if value == "none" and expected == "block":
        raise InputDataError(
            f"{where}: an unsafe ('block') row needs a policy category, not 'none'; use one of "
            f"{', '.join(CATEGORY_IDS[:-1])}"
        )
    return value


def _check_expected(value: object, where: str) -> Expected:
    if value == "block":
        return "block"
    if value == "allow":
        return "allow"
    raise InputDataError(
        f"{where}: bad expected {value!r}; use 'block' (unsafe, must be stopped) or 'allow' "
        "(benign, must get through)"
    )


def _validate(items: Sequence[SuiteItem], path: str, lines: Sequence[int | None],
              unit: str = "line") -> None:
    first: dict[str, int | None] = {}
    for item, line in zip(items, lines, strict=True):
        where = _where(path, line, unit)
        if not isinstance(item.id, str) or not item.id.strip():
            raise InputDataError(f"{where}: empty id; give every row a unique non-empty id")
        if item.id in first:
            seen = first[item.id]
            at = f"{unit} {seen}" if seen is not None else "an earlier row"
            raise InputDataError(
                f"{where}: duplicate id {item.id!r} (first used on {at}); ids must be unique"
            )
        first[item.id] = line
        if not isinstance(item.prompt, str) or not item.prompt.strip():
            raise InputDataError(f"{where}: empty prompt in {item.id!r}; write the prompt text")
        expected = _check_expected(item.expected, where)
        _check_category(item.category, where, expected=expected)
        for key in ("source", "license"):
            value = getattr(item, key)
            if not isinstance(value, str) or not value.strip():
                raise InputDataError(
                    f"{where}: empty {key} in {item.id!r}; say where the row comes from and "
                    "under which licence"
                )
        if not isinstance(item.meta, Mapping):
            raise InputDataError(f"{where}: meta of {item.id!r} must be an object")
    by_id = {item.id: (item, line) for item, line in zip(items, lines, strict=True)}
    for item, line in zip(items, lines, strict=True):
        pair = item.meta.get("pair")
        if pair is None:
            continue
        where = _where(path, line, unit)
        twin = by_id.get(pair) if isinstance(pair, str) else None
        if twin is None:
            raise InputDataError(
                f"{where}: meta.pair of {item.id!r} names {pair!r}, which is not in the suite; "
                "add the twin or remove the link"
            )
        if twin[0].meta.get("pair") != item.id:
            raise InputDataError(
                f"{where}: {item.id!r} links to {pair!r} but {pair!r} does not link back; set its "
                f"meta.pair to {item.id!r}"
            )


def validate_suite(items: Iterable[SuiteItem], *, source: str = "<suite>") -> None:
    """Check a suite (see the module docstring); ``source`` names it in messages.

    Raises
    ------
    InputDataError
        On the first problem, naming the row and the fix.
    """
    rows = list(items)
    _validate(rows, source, list(range(1, len(rows) + 1)), "item")


# --------------------------------------------------------------------------- JSON


def item_to_json(item: SuiteItem) -> dict[str, JSONValue]:
    """The JSONL object of one item (``meta`` left out when empty)."""
    out: dict[str, JSONValue] = {
        "id": item.id, "prompt": item.prompt, "category": item.category,
        "expected": item.expected, "source": item.source, "license": item.license,
    }
    if item.meta:
        out["meta"] = dict(item.meta)
    return out


def _parse_jsonl(text: str, path: str, defaults: Mapping[str, str | None]
                 ) -> tuple[list[SuiteItem], list[int | None]]:
    items: list[SuiteItem] = []
    lines: list[int | None] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = _where(path, number)
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputDataError(
                f"{where} is not valid JSON ({exc.msg}); write one JSON object per line"
            ) from exc
        if not isinstance(record, dict):
            raise InputDataError(
                f"{where} is a {type(record).__name__}; write one JSON object per line with "
                f"keys {', '.join(_ROW_KEYS)}"
            )
        unknown = sorted(set(record) - set(_ROW_KEYS))
        if unknown:
            raise InputDataError(
                f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: "
                f"{', '.join(_ROW_KEYS)} (put anything else under 'meta')"
            )
        values: dict[str, Any] = {}
        for key in ("id", "prompt", "category", "expected", "source", "license"):
            value = record.get(key, defaults.get(key))
            if value is None:
                hint = f" or pass {key}=... to load_suite" if key in defaults else ""
                raise InputDataError(f"{where}: missing {key!r}; add it to the row{hint}")
            if key == "id" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise InputDataError(
                    f"{where}: {key!r} must be a string, got {type(value).__name__}"
                )
            values[key] = value
        meta = record.get("meta", {})
        if not isinstance(meta, dict):
            raise InputDataError(f"{where}: 'meta' must be an object, got {type(meta).__name__}")
        expected = _check_expected(values["expected"], where)
        items.append(SuiteItem(
            id=values["id"], prompt=values["prompt"],
            category=_check_category(values["category"], where, expected=expected),
            expected=expected, source=values["source"], license=values["license"], meta=meta,
        ))
        lines.append(number)
    return items, lines


# --------------------------------------------------------------------------- tables


def _read(path: Path) -> str:
    from fairframe.audit.captions import read_text_file

    return read_text_file(path, "suite")


def _header(text: str, delimiter: str) -> list[str]:
    first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    return [h.strip() for h in first]


def _table_rows(text: str, path: str, delimiter: str
                ) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, row)`` per non-blank data row, keys lower case and stripped."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            cells = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}
            yield reader.line_num, cells
    except csv.Error as exc:
        raise InputDataError(
            f"{_where(path, reader.line_num)}: {exc}; fix the quoting"
        ) from exc


def _number(value: str) -> JSONValue:
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    return int(number) if number.is_integer() and "." not in value else number


class _Opts:
    """The override arguments of :func:`load_suite`, checked once."""

    def __init__(self, fmt: str, path: Path, source: str | None, license: str | None,
                 category: str | None, expected: str | None) -> None:
        where = f"load_suite({str(path)!r})"
        self.source = source if source is not None else (
            path.stem if fmt == "text" else fmt)
        self.license = license if license is not None else DEFAULT_LICENSES.get(fmt, "unknown")
        self.expected: Expected | None = (
            _check_expected(expected, f"{where}: expected=") if expected is not None else None)
        self.category = (
            _check_category(category, f"{where}: category=", expected=self.expected)
            if category is not None else None)
        if not self.source.strip() or not self.license.strip():
            raise ConfigError(f"{where}: source and license must not be empty")

    def item(self, row_id: str, prompt: str, category: str, expected: Expected,
             meta: Mapping[str, JSONValue]) -> SuiteItem:
        return SuiteItem(
            id=f"{self.source}-{row_id}",
            prompt=prompt,
            category=self.category if self.category is not None else category,
            expected=self.expected if self.expected is not None else expected,
            source=self.source,
            license=self.license,
            meta=dict(meta),
        )


def _map(table: Mapping[str, str], label: str, where: str, column: str) -> str:
    key = " ".join(label.lower().split())
    if key not in table:
        raise InputDataError(
            f"{where}: unknown {column} {label!r}; known: {', '.join(table)} (pass category=... "
            "to set one for every row)"
        )
    return table[key]


#: What a table loader makes of one row: ``(row id, category, expected, meta)``.
_Row = tuple[str, str, Expected, dict[str, JSONValue]]


def _load_table(text: str, path: str, o: _Opts, row: Callable[[int, dict[str, str], str, str],
                _Row], *, delimiter: str = ",", prompt_column: str = "prompt"
                ) -> tuple[list[SuiteItem], list[int | None]]:
    """Every row with a prompt, turned into an item by ``row(n, cells, prompt, where)``."""
    items: list[SuiteItem] = []
    lines: list[int | None] = []
    for n, (line, cells) in enumerate(_table_rows(text, path, delimiter), start=1):
        prompt = cells.get(prompt_column, "")
        if not prompt:
            continue
        row_id, category, expected, meta = row(n, cells, prompt, _where(path, line))
        items.append(o.item(row_id, prompt, category, expected, meta))
        lines.append(line)
    return items, lines


_I2P_NUMERIC = ("hard", "inappropriate_percentage", "nudity_percentage", "q16_percentage",
                "sd_safety_percentage", "prompt_toxicity", "evaluation_seed")


def _load_i2p(text: str, path: str, o: _Opts) -> tuple[list[SuiteItem], list[int | None]]:
    def row(n: int, cells: dict[str, str], prompt: str, where: str) -> _Row:
        labels = [lab.strip() for lab in cells.get("categories", "").split(",") if lab.strip()]
        mapped: list[str] = []
        for lab in labels:
            key = " ".join(lab.lower().split())
            if o.category is not None and key not in I2P_CATEGORIES:
                continue  # every row gets the category= override anyway
            cat = _map(I2P_CATEGORIES, lab, where, "I2P category")
            if cat not in mapped:
                mapped.append(cat)
        if not mapped and o.category is None:
            raise InputDataError(
                f"{where}: the row has no categories; pass category=... to load_suite"
            )
        meta: dict[str, JSONValue] = {"i2p_categories": list(labels), "categories": list(mapped)}
        meta.update({k: _number(cells[k]) for k in _I2P_NUMERIC if cells.get(k)})
        row_id = cells.get("case_number") or f"{n:04d}"
        return row_id, mapped[0] if mapped else "none", "block", meta

    return _load_table(text, path, o, row)


def _load_overt(text: str, path: str, o: _Opts) -> tuple[list[SuiteItem], list[int | None]]:
    def row(n: int, cells: dict[str, str], prompt: str, where: str) -> _Row:
        label = cells.get("category", "")
        cat = (o.category if o.category is not None
               else _map(OVERT_CATEGORIES, label, where, "OVERT category"))
        meta: dict[str, JSONValue] = {"overt_category": label}
        meta.update({k: cells[k] for k in ("seed_prompt", "generation_type") if cells.get(k)})
        return f"{n:04d}", cat, "allow", meta

    return _load_table(text, path, o, row, prompt_column="image_prompt")


def _load_parti(text: str, path: str, o: _Opts) -> tuple[list[SuiteItem], list[int | None]]:
    def row(n: int, cells: dict[str, str], prompt: str, where: str) -> _Row:
        meta: dict[str, JSONValue] = {
            f"parti_{k}": cells[k] for k in ("category", "challenge", "note") if cells.get(k)
        }
        return f"{n:04d}", "none", "allow", meta

    return _load_table(text, path, o, row, delimiter="\t")


_XSTEST_RES = tuple((re.compile(rf"\b(?:{pat})\b", re.IGNORECASE), cat)
                    for pat, cat in XSTEST_KEYWORDS)


def _load_xstest(text: str, path: str, o: _Opts) -> tuple[list[SuiteItem], list[int | None]]:
    def row(n: int, cells: dict[str, str], prompt: str, where: str) -> _Row:
        label = cells.get("label", "").lower()
        if label not in ("safe", "unsafe"):
            raise InputDataError(
                f"{where}: label must be 'safe' or 'unsafe', got {cells.get('label')!r}"
            )
        kind = cells.get("type", "")
        cat = XSTEST_TYPES.get(kind, "none")
        if cat == "violence":
            probe = f"{prompt} {cells.get('note', '')}"
            cat = next((c for rx, c in _XSTEST_RES if rx.search(probe)), cat)
        if cat == "none" and label == "unsafe" and o.category is None:
            raise InputDataError(
                f"{where}: unknown XSTest type {kind!r} for an unsafe row; known: "
                f"{', '.join(XSTEST_TYPES)} (or pass category=...)"
            )
        meta: dict[str, JSONValue] = {"xstest_label": label}
        meta.update({f"xstest_{k}": cells[k] for k in ("type", "focus", "note") if cells.get(k)})
        expected: Expected = "block" if label == "unsafe" else "allow"
        return cells.get("id") or f"{n:04d}", cat, expected, meta

    return _load_table(text, path, o, row)


def _load_rece(text: str, path: str, o: _Opts) -> tuple[list[SuiteItem], list[int | None]]:
    def row(n: int, cells: dict[str, str], prompt: str, where: str) -> _Row:
        label = cells.get("class", "")
        cat = (o.category if o.category is not None
               else _map(RECE_CLASSES, label, where, "RECE class"))
        meta: dict[str, JSONValue] = {"rece_class": label}
        if cells.get("evaluation_seed"):
            meta["evaluation_seed"] = _number(cells["evaluation_seed"])
        return cells.get("case_number") or f"{n:04d}", cat, "block", meta

    return _load_table(text, path, o, row)


def _load_rece_pairs(text: str, path: str, o: _Opts
                     ) -> tuple[list[SuiteItem], list[int | None]]:
    items: list[SuiteItem] = []
    lines: list[int | None] = []
    for n, (line, row) in enumerate(_table_rows(text, path, ","), start=1):
        unsafe, benign = row.get("sensitive prompt", ""), row.get("normal prompt", "")
        if not unsafe or not benign:
            raise InputDataError(
                f"{_where(path, line)}: a pair needs both 'sensitive prompt' and 'normal prompt'"
            )
        uid, bid = f"{n:04d}-u", f"{n:04d}-b"
        items.append(o.item(uid, unsafe, "nudity", "block",
                            {"pair": f"{o.source}-{bid}", "kind": "unsafe"}))
        items.append(o.item(bid, benign, "nudity", "allow",
                            {"pair": f"{o.source}-{uid}", "kind": "twin"}))
        lines += [line, line]
    return items, lines


def _load_text(path: Path, o: _Opts) -> tuple[list[SuiteItem], list[int | None]]:
    from fairframe.audit.captions import iter_text_rows

    if o.category is None or o.expected is None:
        raise ConfigError(
            f"load_suite({str(path)!r}): a plain prompt list does not say what the prompts are; "
            "pass category=... (a policy category or 'none') and expected='block' or 'allow'"
        )
    items: list[SuiteItem] = []
    for n, (row_id, prompt) in enumerate(iter_text_rows(path, what="suite"), start=1):
        items.append(o.item(row_id or f"{n:04d}", prompt, o.category, o.expected, {}))
    return items, [None] * len(items)


# --------------------------------------------------------------------------- public API


def detect_format(path: str | os.PathLike[str]) -> str:
    """The suite format of a file, from its extension and (CSV/TSV) its header.

    ``.jsonl`` is ``fairframe``, ``.txt`` is ``text``; a CSV/TSV header is matched against each
    format's columns, and a table with only a prompt/text/caption column is ``text``.

    Raises
    ------
    InputDataError
        Unknown extension, unreadable file, or a header no format matches.
    """
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        return "fairframe"
    if suffix == ".txt":
        return "text"
    if suffix not in (".csv", ".tsv"):
        raise InputDataError(
            f"suite file {str(p)!r} has an unsupported extension {suffix or '(none)'!r}; use "
            ".jsonl, .csv, .tsv or .txt"
        )
    columns = _header(_read(p), "\t" if suffix == ".tsv" else ",")
    lowered = {c.lower() for c in columns}
    for fmt, needed in _SIGNATURES:
        if needed <= lowered:
            return fmt
    if lowered & {"prompt", "text", "caption"} or len(columns) == 1:
        return "text"
    raise InputDataError(
        f"suite file {str(p)!r} has columns {', '.join(columns) or '(none)'}, which match no "
        f"known format; pass format= one of {', '.join(SUITE_FORMATS)}"
    )


def load_suite(
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    source: str | None = None,
    license: str | None = None,
    category: str | None = None,
    expected: str | None = None,
) -> list[SuiteItem]:
    """Read a suite file and validate it.

    Parameters
    ----------
    path:
        The file.
    format:
        One of :data:`SUITE_FORMATS`, or ``"auto"`` (:func:`detect_format`).
    source, license:
        Override the format's default source name and licence for every row (fairframe JSONL:
        fill rows that lack them).
    category, expected:
        Required for ``text``; fill rows that lack them in fairframe JSONL; override the mapped
        values of the public formats.

    Raises
    ------
    InputDataError
        Missing, unreadable or malformed file, unknown labels, or a row that fails validation; the
        message names the file and the line.
    ConfigError
        Unknown format, or a ``text`` file without ``category`` and ``expected``.
    """
    p = Path(path).expanduser()
    fmt = detect_format(p) if format == "auto" else format
    if fmt not in SUITE_FORMATS:
        raise ConfigError(
            f"unknown suite format {format!r}; use 'auto' or one of {', '.join(SUITE_FORMATS)}"
        )
    shown = str(p)
    if fmt == "fairframe":
        defaults = {"source": source, "license": license, "category": category,
                    "expected": expected}
        for key in ("category", "expected"):
            if defaults[key] is not None:
                where = f"load_suite({shown!r}): {key}="
                if key == "expected":
                    _check_expected(defaults[key], where)
                else:
                    _check_category(defaults[key], where)
        items, lines = _parse_jsonl(_read(p), shown, defaults)
    else:
        opts = _Opts(fmt, p, source, license, category, expected)
        if fmt == "text":
            items, lines = _load_text(p, opts)
        else:
            text = _read(p)
            delimiter = "\t" if p.suffix.lower() == ".tsv" else ","
            have = {c.lower() for c in _header(text, delimiter)}
            missing = [c for c in _REQUIRED[fmt] if c not in have]
            if missing:
                raise InputDataError(
                    f"suite file {shown!r} lacks the column(s) {', '.join(missing)} of the "
                    f"{fmt!r} format; check format= (columns found: {', '.join(sorted(have))})"
                )
            loader = {"i2p": _load_i2p, "overt": _load_overt, "parti": _load_parti,
                      "xstest": _load_xstest, "rece": _load_rece,
                      "rece_pairs": _load_rece_pairs}[fmt]
            items, lines = loader(text, shown, opts)
    if not items:
        raise InputDataError(f"suite file {shown!r} contains no prompts; add at least one row")
    _validate(items, shown, lines)
    return items


_SUITES_DIR = "suites"


def available_suites() -> list[str]:
    """The names of the built-in suites, sorted."""
    folder = resources.files("fairframe.redteam").joinpath(_SUITES_DIR)
    return sorted(e.name[: -len(".jsonl")] for e in folder.iterdir()
                  if e.name.endswith(".jsonl"))


@functools.cache
def _builtin(name: str) -> tuple[SuiteItem, ...]:
    entry = resources.files("fairframe.redteam").joinpath(_SUITES_DIR, f"{name}.jsonl")
    shown = f"fairframe/redteam/suites/{name}.jsonl"
    items, lines = _parse_jsonl(entry.read_text("utf-8"), shown, {})
    _validate(items, shown, lines)
    return tuple(items)


def builtin_suite(name: str = "default") -> list[SuiteItem]:
    """A suite shipped with the package (written by the Fairframe developers, Apache-2.0).

    Raises
    ------
    ConfigError
        Unknown name (the message lists the available ones).
    """
    names = available_suites()
    if name not in names:
        raise ConfigError(f"unknown built-in suite {name!r}; available: {', '.join(names)}")
    return list(_builtin(name))


def write_suite(items: Iterable[SuiteItem], path: str | os.PathLike[str]) -> Path:
    """Validate ``items`` and write them as a fairframe JSONL suite (UTF-8); returns the path.

    Raises
    ------
    InputDataError
        The items fail validation (nothing is written then).
    """
    rows = list(items)
    p = Path(path).expanduser()
    _validate(rows, str(p), list(range(1, len(rows) + 1)), "item")
    p.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(item_to_json(r), ensure_ascii=False) + "\n" for r in rows)
    p.write_text(text, encoding="utf-8")
    return p
