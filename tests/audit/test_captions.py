"""Loading captions from files and built-in sets, and the errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairframe.audit.captions import (
    BUILTIN_CAPTION_SETS,
    Caption,
    load_captions,
    read_captions,
)
from fairframe.audit.taxonomy import PROFESSIONS, TaxonomyProposer
from fairframe.errors import ConfigError, InputDataError


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- formats --------------------------------------------------------------------------------------


def test_txt_skips_blanks_and_comments_and_repeats(tmp_path: Path) -> None:
    src = write(
        tmp_path,
        "caps.txt",
        "# my captions\n\na photo of a nurse\n  a red car  \nA photo of a  nurse\n# end\na dog\n",
    )
    loaded = read_captions(src)
    assert loaded.captions == (
        Caption("c0001", "a photo of a nurse"),
        Caption("c0002", "a red car"),
        Caption("c0004", "a dog"),
    )
    assert loaded.duplicates == 1 and loaded.source == src
    assert load_captions(src) == list(loaded.captions)


def test_limit_keeps_the_first_unique_captions(tmp_path: Path) -> None:
    src = write(tmp_path, "caps.txt", "a\na\nb\nc\n")
    assert [c.text for c in load_captions(src, limit=2)] == ["a", "b"]
    with pytest.raises(ConfigError, match="limit must be >= 1"):
        load_captions(src, limit=0)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "caps.txt"
    path.write_bytes("\ufeffun café\n".encode())
    assert load_captions(str(path)) == [Caption("c0001", "un café")]


def test_csv_detects_the_caption_and_id_columns(tmp_path: Path) -> None:
    src = write(tmp_path, "caps.csv", 'ID,Prompt,source\nn1,"a nurse, smiling",x\nn2,a dog,y\n')
    assert load_captions(src) == [Caption("n1", "a nurse, smiling"), Caption("n2", "a dog")]


def test_csv_with_an_explicit_column_and_positional_ids(tmp_path: Path) -> None:
    src = write(tmp_path, "caps.csv", "caption,alt\nfirst,other one\n,\nsecond,other two\n")
    assert load_captions(src, column="alt") == [
        Caption("c0001", "other one"),
        Caption("c0002", "other two"),
    ]
    assert [c.id for c in load_captions(src)] == ["c0001", "c0002"]


def test_single_column_csv_needs_no_name(tmp_path: Path) -> None:
    src = write(tmp_path, "caps.csv", "sentence\na cat\n")
    assert load_captions(src) == [Caption("c0001", "a cat")]


def test_tsv(tmp_path: Path) -> None:
    src = write(tmp_path, "caps.tsv", "id\ttext\nx\ta nurse\ny\ta doctor\n")
    assert load_captions(src) == [Caption("x", "a nurse"), Caption("y", "a doctor")]


def test_jsonl_objects_and_strings(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": 7, "caption": "a nurse"}),
        "",
        json.dumps("a bare string"),
        json.dumps({"prompt": "a doctor", "lang": "en"}),
    ]
    src = write(tmp_path, "caps.jsonl", "\n".join(lines) + "\n")
    assert load_captions(src) == [
        Caption("7", "a nurse"),
        Caption("c0002", "a bare string"),
        Caption("c0003", "a doctor"),
    ]


# --- built-in sets --------------------------------------------------------------------------------


def test_builtin_sets() -> None:
    sizes = {name: len(load_captions(f"builtin:{name}")) for name in BUILTIN_CAPTION_SETS}
    assert sizes == {"people": 40, "professions": len(PROFESSIONS), "objects": 30, "sample": 12}
    for captions in BUILTIN_CAPTION_SETS.values():
        assert len({c.lower() for c in captions}) == len(captions)
    professions = load_captions("builtin:professions")
    assert professions[0] == Caption("c0001", "a photo of an accountant")
    assert "a photo of a CEO" in [c.text for c in professions]


def test_builtin_captions_all_have_a_taxonomy_subject() -> None:
    proposer = TaxonomyProposer()
    for name in BUILTIN_CAPTION_SETS:
        for caption in load_captions(f"builtin:{name}"):
            assert proposer.propose(caption.text).proposals, caption.text


def test_first_sample_captions_are_people_with_open_gender() -> None:
    proposer = TaxonomyProposer()
    for caption in load_captions("builtin:sample", limit=3):
        gender = [p for p in proposer.propose(caption.text).proposals if p.name == "gender"]
        assert gender and not gender[0].present_in_prompt, caption.text


# --- errors ---------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"nope\.txt' does not exist.*builtin:people"):
        load_captions(str(tmp_path / "nope.txt"))


def test_empty_file(tmp_path: Path) -> None:
    src = write(tmp_path, "caps.txt", "# only a comment\n\n")
    with pytest.raises(InputDataError, match=r"caps\.txt' contains no captions"):
        load_captions(src)
    with pytest.raises(InputDataError, match="contains no captions"):
        load_captions(write(tmp_path, "empty.csv", ""))


def test_unknown_column_lists_the_available_ones(tmp_path: Path) -> None:
    src = write(tmp_path, "caps.csv", "a,b\n1,2\n")
    with pytest.raises(InputDataError, match="has no column 'caption'; available: a, b"):
        load_captions(src, column="caption")
    with pytest.raises(InputDataError,
                       match=r"\(captions.column in the audit config\) naming one of: a, b"):
        load_captions(src)


def test_unreadable_encoding(tmp_path: Path) -> None:
    path = tmp_path / "caps.txt"
    path.write_bytes("un caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputDataError, match=r"is not UTF-8 text \(bad byte at offset 6, line 1\)"):
        load_captions(str(path))


def test_unknown_builtin_lists_them() -> None:
    with pytest.raises(
        InputDataError,
        match="available: builtin:people, builtin:professions, builtin:objects, builtin:sample",
    ):
        load_captions("builtin:animals")


def test_a_stray_quote_is_an_error_not_merged_rows(tmp_path: Path) -> None:
    src = write(tmp_path, "caps.tsv", 'caption\tx\n"a photo of a doctor\tb\na nurse at work\tc\n')
    with pytest.raises(InputDataError, match=r"line 2: the caption runs over lines 2-3"):
        load_captions(src)


def test_a_line_break_in_another_column_is_fine(tmp_path: Path) -> None:
    src = write(tmp_path, "caps.csv", 'id,caption,notes\n1,a doctor,"line1\nline2"\n2,a nurse,x\n')
    assert [c.text for c in load_captions(src)] == ["a doctor", "a nurse"]


def test_malformed_jsonl_line_names_the_line(tmp_path: Path) -> None:
    src = write(tmp_path, "caps.jsonl", '{"caption": "ok"}\n\n{"caption": oops}\n')
    with pytest.raises(InputDataError, match=r"caps\.jsonl' line 3 is not valid JSON"):
        load_captions(src)
    src = write(tmp_path, "more.jsonl", '{"caption": "ok"}\n[1, 2]\n')
    with pytest.raises(InputDataError, match="line 2 is a list"):
        load_captions(src)
    src = write(tmp_path, "keys.jsonl", '{"caption": "ok"}\n{"title": "x", "body": "y"}\n')
    with pytest.raises(InputDataError, match="line 2: .*naming one of: title, body"):
        load_captions(src)


def test_other_errors(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="unsupported extension '.md'"):
        load_captions(write(tmp_path, "caps.md", "a\n"))
    folder = tmp_path / "dir.txt"
    folder.mkdir()
    with pytest.raises(InputDataError, match="is a folder"):
        load_captions(str(folder))
    with pytest.raises(InputDataError, match="repeats the id 'x'"):
        load_captions(write(tmp_path, "ids.csv", "id,caption\nx,a\nx,b\n"))
    with pytest.raises(InputDataError, match="line 3: empty 'id'"):
        load_captions(write(tmp_path, "noid.csv", "id,caption\nx,a\n,b\n"))
    assert issubclass(InputDataError, ValueError)
