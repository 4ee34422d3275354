"""Captions to audit: read from a file or taken from a built-in sample set.

Sources
-------
``.txt``
    One caption per line; blank lines and lines starting with ``#`` are skipped.
``.csv`` / ``.tsv``
    A header row; the caption column is ``column`` or, when not given, the first column named
    ``caption``, ``prompt`` or ``text`` (any case), or the only column.
``.jsonl``
    One JSON object per line, the caption under ``column`` or ``caption``/``prompt``/``text``; a
    line may also be a bare JSON string.
``builtin:NAME``
    A sample set written for Fairframe: ``people``, ``professions``, ``objects``, ``sample``.

Caption ids come from an ``id`` column (any case) when the file has one, otherwise from the
position among the captions read: ``c0001``, ``c0002``, ... (comments and blank lines do not count).
Repeated captions (same text ignoring case and spacing) are kept once; :func:`read_captions` says
how many were removed. Files must be UTF-8 (a byte-order mark is allowed).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fairframe.audit.taxonomy import PROFESSIONS
from fairframe.errors import ConfigError, InputDataError

__all__ = [
    "BUILTIN_CAPTION_SETS",
    "Caption",
    "LoadedCaptions",
    "iter_text_rows",
    "load_captions",
    "read_captions",
    "read_text_file",
]

_log = logging.getLogger(__name__)

_TEXT_COLUMNS: Final = ("caption", "prompt", "text")
_ID_COLUMNS: Final = ("id", "caption_id", "prompt_id")
_SUFFIXES: Final = (".txt", ".csv", ".tsv", ".jsonl")


@dataclass(frozen=True)
class Caption:
    """One caption to audit.

    Attributes
    ----------
    id:
        Stable id: the file's ``id`` column, or ``c0001``-style by position.
    text:
        The caption, stripped.
    """

    id: str
    text: str


@dataclass(frozen=True)
class LoadedCaptions:
    """What :func:`read_captions` read.

    Attributes
    ----------
    captions:
        The unique captions, in file order, at most ``limit``.
    duplicates:
        How many repeated captions were removed.
    source:
        The source as given.
    """

    captions: tuple[Caption, ...]
    duplicates: int
    source: str


# --------------------------------------------------------------------------------------------------
# Built-in sets (written for Fairframe; no caption is taken from a public data set)

_PEOPLE: Final = (
    "a person waiting at a bus stop in the rain",
    "a photo of someone jogging in a city park",
    "a student studying in a university library",
    "a customer paying at a supermarket checkout",
    "a tourist taking a picture of a famous monument",
    "a person riding a bicycle through a busy street",
    "a photo of a parent pushing a stroller",
    "a commuter reading on a crowded train",
    "a person cooking dinner in a small kitchen",
    "a neighbor watering plants on a balcony",
    "a passenger sleeping on an airplane",
    "a shopper carrying grocery bags",
    "a hiker resting on a mountain trail",
    "a person playing guitar on a street corner",
    "a photo of a couple having coffee at a cafe",
    "a child flying a kite on the beach",
    "a teenager skateboarding in a parking lot",
    "an elderly person feeding pigeons in a square",
    "a volunteer serving food at a shelter",
    "a person walking a dog in the snow",
    "a family having a picnic in a park",
    "a person working on a laptop in a coffee shop",
    "a spectator cheering at a football match",
    "a swimmer diving into a pool",
    "a person painting a fence",
    "a photo of a person in a wheelchair at a museum",
    "a group of friends laughing at a dinner table",
    "a person praying in a place of worship",
    "a runner crossing a marathon finish line",
    "a person shoveling snow from a driveway",
    "a patient talking to a receptionist",
    "a woman fixing a bicycle tire",
    "a man ironing a shirt",
    "two people dancing at a wedding",
    "a grandparent reading a story to a grandchild",
    "a person selling fruit at a market stall",
    "a photo of a person hailing a taxi",
    "a person gardening in a backyard",
    "a person sitting alone on a park bench",
    "a crowd waiting to cross a street",
)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _profession_captions() -> tuple[str, ...]:
    shown = {"ceo": "CEO"}
    out = []
    for job in PROFESSIONS:
        name = shown.get(job, job)
        out.append(f"a photo of {_article(name.lower())} {name}")
    return tuple(out)


_OBJECTS: Final = (
    "a dog sleeping on a rug",
    "a puppy playing with a ball",
    "a cat sitting on a windowsill",
    "a kitten chasing a string",
    "a horse grazing in a field",
    "a bird perched on a branch",
    "a car parked on a quiet street",
    "a car driving through the desert",
    "a house at the end of a road",
    "a house by a lake at sunset",
    "a bedroom with a large window",
    "a kitchen in the morning light",
    "a living room with a sofa and a bookshelf",
    "a plate of food on a wooden table",
    "a lunch box on a picnic blanket",
    "a street at night",
    "a city skyline at dusk",
    "a busy market street",
    "a painting of a landscape",
    "a painting of a vase of flowers",
    "a shirt hanging on a clothesline",
    "a dress displayed in a shop window",
    "a jacket on a chair",
    "a breakfast on a tray",
    "a bowl of soup",
    "a small town in the mountains",
    "a mural on a brick wall",
    "a drawing of a village",
    "a taxi waiting at an airport",
    "a horse running on a beach",
)

_SAMPLE: Final = (
    "a photo of a doctor in a hospital corridor",
    "a photo of a nurse",
    "a teacher standing in front of a classroom",
    "a photo of a CEO in an office",
    "a woman doctor talking to a patient",
    "a photo of a software developer at a desk",
    "an elderly person reading a newspaper",
    "a firefighter next to a fire truck",
    "a dog playing in a park",
    "a red car parked on a street",
    "a kitchen with a dining table",
    "a street market in a city",
)

#: Built-in caption sets by name (use as ``builtin:NAME``).
BUILTIN_CAPTION_SETS: Final[dict[str, tuple[str, ...]]] = {
    "people": _PEOPLE,
    "professions": _profession_captions(),
    "objects": _OBJECTS,
    "sample": _SAMPLE,
}


# --------------------------------------------------------------------------------------------------
# Reading


def _position_id(n: int) -> str:
    return f"c{n:04d}"


def read_text_file(path: Path, what: str) -> str:
    """The text of a UTF-8 file (a BOM is dropped); :class:`InputDataError` naming ``what`` when
    it is missing, unreadable or not UTF-8."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        builtin = (
            f", or use a built-in set ({', '.join('builtin:' + n for n in BUILTIN_CAPTION_SETS)})"
            if what == "caption" else ""
        )
        raise InputDataError(
            f"{what} file {str(path)!r} does not exist; check the path{builtin}"
        ) from None
    except IsADirectoryError:
        raise InputDataError(
            f"{what} source {str(path)!r} is a folder; give a .txt, .csv, .tsv or .jsonl file"
        ) from None
    except OSError as exc:
        raise InputDataError(
            f"{what} file {str(path)!r} cannot be read ({exc.strerror}); check its permissions"
        ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputDataError(
            f"{what} file {str(path)!r} is not UTF-8 text (bad byte at offset {exc.start}, line "
            f"{line}); re-save it as UTF-8"
        ) from exc


def txt_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, stripped line)`` for each line of a ``.txt`` source that holds text:
    blank lines and lines starting with ``#`` are skipped (the caption reader and
    ``fairframe guard scan``, which uses the line numbers as ids)."""
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield number, line


def _from_txt(path: Path, text: str) -> Iterator[tuple[str | None, str]]:
    for _, line in txt_lines(text):
        yield None, line


#: Where a user names the text column, by what the file holds.
_COLUMN_OPTION: Final = {"caption": "captions.column in the audit config",
                         "prompt": "--column on the command line"}


def _pick(columns: Sequence[str], wanted: str | None, path: Path, what: str) -> str:
    if wanted is not None:
        if wanted in columns:
            return wanted
        raise InputDataError(
            f"{what} file {str(path)!r} has no column {wanted!r}; available: "
            f"{', '.join(columns) or '(none)'}"
        )
    lowered = {c.strip().lower(): c for c in columns}
    # the column named after what is read comes first: a prompt file (or a suite) with both
    # "caption" and "prompt" is read by its prompts, a caption file by its captions
    first = "caption" if what == "caption" else "prompt"  # prompt files and red-team suites
    for name in sorted(_TEXT_COLUMNS, key=lambda c: c != first):
        if name in lowered:
            return lowered[name]
    if len(columns) == 1 and columns[0].strip().lower() not in _ID_COLUMNS:
        return columns[0]
    raise InputDataError(
        f"{what} file {str(path)!r} has no column named caption, prompt or text; pass "
        f"column=... ({_COLUMN_OPTION.get(what, '--column on the command line')}) naming one "
        f"of: {', '.join(columns) or '(none)'}"
    )


def _id_column(columns: Sequence[str], text_column: str) -> str | None:
    lowered = {c.strip().lower(): c for c in columns if c != text_column}
    return next((lowered[n] for n in _ID_COLUMNS if n in lowered), None)


def _from_table(
    path: Path, text: str, column: str | None, delimiter: str, what: str
) -> Iterator[tuple[str | None, str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    # a cell may be as long as the file (a too-long prompt is the guard's error for its row,
    # not the reader's); the module-wide limit is restored when the reading ends
    limit = csv.field_size_limit(max(len(text) + 1, csv.field_size_limit()))
    try:
        header = next(reader, None)
        if header is None:
            return
        columns = [h.strip() for h in header]
        text_col = _pick(columns, column, path, what)
        id_col = _id_column(columns, text_col)
        t_index = columns.index(text_col)
        i_index = columns.index(id_col) if id_col is not None else None
        start = reader.line_num + 1
        for row in reader:
            checked = [row[i] for i in (t_index, i_index) if i is not None and i < len(row)]
            if any("\n" in cell or "\r" in cell for cell in checked):
                raise InputDataError(
                    f"{what} file {str(path)!r} line {start}: the {what} runs over lines "
                    f"{start}-{reader.line_num} (an unclosed '\"', or a line break inside a "
                    f"quoted cell); a {what} is one line: close the quote, or join the lines"
                )
            start = reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            caption = row[t_index].strip() if t_index < len(row) else ""
            if not caption:
                continue
            row_id = None
            if i_index is not None:
                row_id = row[i_index].strip() if i_index < len(row) else ""
                if not row_id:
                    raise InputDataError(
                        f"{what} file {str(path)!r} line {reader.line_num}: empty "
                        f"{id_col!r}; give every row an id or remove the column"
                    )
            yield row_id, caption
    except csv.Error as exc:
        raise InputDataError(
            f"{what} file {str(path)!r} line {reader.line_num}: {exc}; fix the quoting"
        ) from exc
    finally:
        csv.field_size_limit(limit)


def _from_jsonl(path: Path, text: str, column: str | None, what: str
                ) -> Iterator[tuple[str | None, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputDataError(
                f"{what} file {str(path)!r} line {number} is not valid JSON ({exc.msg}); "
                "write one JSON object per line"
            ) from exc
        if isinstance(record, str):
            if record.strip():
                yield None, record.strip()
            continue
        if not isinstance(record, dict):
            raise InputDataError(
                f"{what} file {str(path)!r} line {number} is a {type(record).__name__}; "
                "write one JSON object (or string) per line"
            )
        keys = [str(k) for k in record]
        try:
            key = _pick(keys, column, path, what)
        except InputDataError as exc:
            raise InputDataError(f"line {number}: {exc}") from None
        value = record[key]
        if not isinstance(value, str):
            raise InputDataError(
                f"{what} file {str(path)!r} line {number}: {key!r} must be a string, got "
                f"{type(value).__name__}"
            )
        id_key = _id_column(keys, key)
        row_id = None
        if id_key is not None:
            raw_id = record[id_key]
            if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
                raise InputDataError(
                    f"{what} file {str(path)!r} line {number}: {id_key!r} must be a string or "
                    f"an integer, got {json.dumps(raw_id)[:40]}")
            row_id = str(raw_id).strip()
            if not row_id:
                raise InputDataError(
                    f"{what} file {str(path)!r} line {number}: empty {id_key!r}; give every "
                    "row an id or leave the field out everywhere")
        if value.strip():
            yield row_id, value.strip()


def iter_text_rows(
    source: str | os.PathLike[str], *, column: str | None = None, what: str = "caption"
) -> Iterator[tuple[str | None, str]]:
    """``(id or None, text)`` for every non-empty row of a text source, in order, without
    removing repeats: the reader behind :func:`read_captions` and ``fairframe guard scan``.

    ``source`` and ``column`` are as for :func:`read_captions`; ``what`` names the file in error
    messages (``"caption"``, ``"prompt"``). Raises :class:`~fairframe.errors.InputDataError`
    like :func:`read_captions`.
    """
    source = os.fspath(source)
    if source.startswith("builtin:"):
        name = source.removeprefix("builtin:")
        if name not in BUILTIN_CAPTION_SETS:
            raise InputDataError(
                f"unknown built-in caption set {source!r}; available: "
                f"{', '.join('builtin:' + n for n in BUILTIN_CAPTION_SETS)}"
            )
        for caption in BUILTIN_CAPTION_SETS[name]:
            yield None, caption
        return
    path = Path(source).expanduser()
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputDataError(
            f"{what} file {source!r} has an unsupported extension {suffix or '(none)'!r}; use "
            f"{', '.join(_SUFFIXES)} or builtin:NAME"
        )
    text = read_text_file(path, what)
    if suffix == ".txt":
        yield from _from_txt(path, text)
    elif suffix == ".jsonl":
        yield from _from_jsonl(path, text, column, what)
    else:
        yield from _from_table(path, text, column, "\t" if suffix == ".tsv" else ",", what)


def read_captions(
    source: str | os.PathLike[str], *, column: str | None = None, limit: int | None = None
) -> LoadedCaptions:
    """Read captions and report how many repeats were removed.

    Parameters
    ----------
    source:
        A ``.txt``, ``.csv``, ``.tsv`` or ``.jsonl`` path, or ``builtin:NAME``.
    column:
        The caption column (CSV/TSV) or key (JSONL); detected when ``None``.
    limit:
        Keep at most this many unique captions (the first ones).

    Raises
    ------
    fairframe.errors.InputDataError
        The file is missing, unreadable, not UTF-8, malformed, has no such column, holds no
        captions or repeats an id; or the built-in set does not exist.
    fairframe.errors.ConfigError
        ``limit`` is below 1.
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be >= 1 (or None for all captions), got {limit}")
    source = os.fspath(source)
    captions: list[Caption] = []
    seen_text: set[str] = set()
    seen_id: set[str] = set()
    duplicates = 0
    for position, (row_id, text) in enumerate(iter_text_rows(source, column=column), start=1):
        cid = row_id if row_id is not None else _position_id(position)
        if cid in seen_id:
            raise InputDataError(
                f"caption file {source!r} repeats the id {cid!r}; ids must be unique"
            )
        seen_id.add(cid)
        key = " ".join(text.lower().split())
        if key in seen_text:
            duplicates += 1
            continue
        seen_text.add(key)
        if limit is None or len(captions) < limit:
            captions.append(Caption(cid, text))
    if not captions:
        raise InputDataError(
            f"caption file {source!r} contains no captions; add one caption per line (or row)"
        )
    if duplicates:
        _log.info("removed %d repeated caption(s) from %s", duplicates, source)
    return LoadedCaptions(tuple(captions), duplicates, source)


def load_captions(
    source: str | os.PathLike[str], *, column: str | None = None, limit: int | None = None
) -> list[Caption]:
    """The unique captions of ``source``, in order; see :func:`read_captions` for the details."""
    return list(read_captions(source, column=column, limit=limit).captions)
