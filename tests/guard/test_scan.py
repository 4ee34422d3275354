from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pytest

from fairframe.errors import InputDataError
from fairframe.guard import default_lexicon
from fairframe.guard.pipeline import PromptGuard
from fairframe.guard.scan import (
    PromptRow,
    check_resumable,
    guard_fingerprint,
    read_prompts,
    scan_file,
)


@pytest.fixture(scope="module")
def guard() -> PromptGuard:
    return PromptGuard([default_lexicon()], max_prompt_chars=200)


def test_read_jsonl_csv_tsv_and_text(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"prompt": "a cat"}\n\n{"prompt": "a dog"}\n"a cow"\n')
    assert read_prompts(tmp_path / "a.jsonl") == [
        PromptRow("1", "a cat"), PromptRow("2", "a dog"), PromptRow("3", "a cow")]
    (tmp_path / "b.csv").write_text('id,prompt\n7,"a cat, sitting"\n8,a dog\n9,a dog\n')
    assert read_prompts(tmp_path / "b.csv") == [  # repeats are kept: each row gets a decision
        PromptRow("7", "a cat, sitting"), PromptRow("8", "a dog"), PromptRow("9", "a dog")]
    (tmp_path / "c.tsv").write_text("Prompt\tCategory\na cat\tAnimals\n")
    assert read_prompts(tmp_path / "c.tsv") == [PromptRow("1", "a cat")]
    (tmp_path / "d.txt").write_text("a cat\n\n  \n# note\na dog\n")
    # ids are line numbers (a decision points at its line); prompts appended at the end keep
    # every earlier id, so an appended file resumes
    assert read_prompts(tmp_path / "d.txt") == [PromptRow("1", "a cat"), PromptRow("5", "a dog")]
    (tmp_path / "d.txt").write_text("a cat\n\n  \n# note\na dog\na bird\n")
    assert read_prompts(tmp_path / "d.txt")[:2] == [PromptRow("1", "a cat"),
                                                    PromptRow("5", "a dog")]


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("a.jsonl", '{"prompt": "ok"}\n{oops\n', r"prompt file .*a.jsonl' line 2 is not valid"),
        ("a.jsonl", '{"words": "ok", "n": 1}\n', "no column named caption, prompt or text"),
        ("a.csv", "id,words\n1,hello\n", r"\(--column .*\) naming one of: id, words"),
        ("a.txt", "\n\n", "holds no prompts"),
        ("a.jsonl", '{"id": "a", "prompt": "a cat"}\n{"id": "b"}\n',
         "line 2: .*no column named caption, prompt or text"),
        ("a.jsonl", '{"id": "b"}\n', "no column named caption, prompt or text"),
        ("a.jsonl", '{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}\n', "appears twice"),
        ("a.jsonl", '{"id": null, "prompt": "a"}\n', "'id' must be a string or an integer"),
        ("a.jsonl", '{"id": true, "prompt": "a"}\n', "'id' must be a string or an integer, got"),
        ("a.jsonl", '{"id": {"a": 1}, "prompt": "a"}\n', "must be a string or an integer"),
        ("a.jsonl", '{"id": " ", "prompt": "a"}\n', "line 1: empty 'id'"),
        ("a.bin", "x", "unsupported extension '.bin'"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path: Path, name: str, text: str, match: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(InputDataError, match=match):
        read_prompts(tmp_path / name)
    with pytest.raises(InputDataError, match="does not exist"):
        read_prompts(tmp_path / "missing.jsonl")


def test_the_prompt_column_comes_before_a_caption(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": "1", "caption": "a cat", "prompt": "a nude"}\n')
    assert read_prompts(tmp_path / "a.jsonl") == [PromptRow("1", "a nude")]
    (tmp_path / "b.csv").write_text("id,caption,prompt\n1,a cat,a nude\n")
    assert read_prompts(tmp_path / "b.csv") == [PromptRow("1", "a nude")]
    from fairframe.audit.captions import read_captions

    assert [c.text for c in read_captions(tmp_path / "b.csv").captions] == ["a cat"]


def test_a_cell_longer_than_the_csv_default_is_read(tmp_path: Path) -> None:
    (tmp_path / "long.csv").write_text("id,prompt\n1,a cat\n2," + "x" * 200_000 + "\n")
    rows = read_prompts(tmp_path / "long.csv")
    assert [len(r.prompt) for r in rows] == [5, 200_000]  # the guard refuses it, on its row
    assert csv.field_size_limit() == 131072  # the module-wide limit is left as it was


def test_scan_writes_one_line_per_prompt_in_order(tmp_path: Path, guard: PromptGuard) -> None:
    rows = [PromptRow("1", "a red barn"), PromptRow("2", "a bloody corpse"),
            PromptRow("3", "   "), PromptRow("4", "porn"), PromptRow("5", "x" * 300)]
    out = tmp_path / "out.jsonl"
    seen: list[int] = []
    summary = scan_file(guard, rows, out, batch_size=2, progress=seen.append)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["1", "2", "3", "4", "5"]
    guard_id = guard_fingerprint(guard)
    assert lines[0] == {"id": "1", "action": "allow", "categories": {}, "prompt_out": None,
                        "prompt_sha256": hashlib.sha256(b"a red barn").hexdigest(),
                        "guard": guard_id}
    assert lines[2]["guard"] == guard_id and len(guard_id) == 16
    assert lines[1]["action"] == "rewrite" and set(lines[1]["categories"]) == {"violence"}
    assert "empty" in lines[2]["error"] and "limit is 200" in lines[4]["error"]
    assert lines[3]["action"] == "block"
    assert sum(seen) == 5 and seen == [2, 2, 1]
    assert summary.errors == 2 and summary.checked == 5 and summary.resumed == 0
    assert summary.actions == {"allow": 1, "rewrite": 1, "block": 1}


def test_scan_resumes_and_repairs_a_torn_line(tmp_path: Path, guard: PromptGuard) -> None:
    rows = [PromptRow(str(i), f"a cat number {i}") for i in range(10)]
    out = tmp_path / "out.jsonl"
    scan_file(guard, rows[:4], out)
    with out.open("a") as fh:
        fh.write('{"id": "4", "act')  # a crash mid-line
    summary = scan_file(guard, rows, out)
    assert summary.resumed == 4 and summary.checked == 6
    ids = [json.loads(x)["id"] for x in out.read_text().splitlines()]
    assert ids == [str(i) for i in range(10)]
    again = scan_file(guard, rows, out, resume=False)
    assert again.checked == 10
    assert len(out.read_text().splitlines()) == 10


def test_a_resume_adds_new_prompts_and_refuses_what_would_mix_or_lose(
        tmp_path: Path, guard: PromptGuard) -> None:
    rows = [PromptRow(str(i), f"a cat number {i}") for i in range(6)]
    out = tmp_path / "out.jsonl"
    scan_file(guard, rows[:3], out)
    seen: list[int] = []
    summary = scan_file(guard, rows, out, progress=seen.append)  # prompts added to the input
    assert (summary.resumed, summary.checked) == (3, 3) and seen == [3, 3]
    before = out.read_bytes()
    changed = [*rows[:2], PromptRow("2", "a bloody corpse"), *rows[3:]]
    with pytest.raises(InputDataError, match="line 3 decides id '2' for another prompt"):
        scan_file(guard, changed, out)
    with pytest.raises(InputDataError, match="id '5', which is not in the input"):
        scan_file(guard, rows[:5], out)
    other = PromptGuard([default_lexicon()], max_prompt_chars=8000)  # the fix for a long prompt
    with pytest.raises(InputDataError, match="written by another guard"):
        scan_file(other, rows, out)
    with pytest.raises(InputDataError, match="written by another guard"):
        scan_file(guard, rows, out, guard_extra={"fast": True})
    assert out.read_bytes() == before  # a refused resume changes nothing
    # the check without a guard (the CLI runs it before loading models) finds the same faults
    assert check_resumable(out, rows) == 6 and check_resumable(tmp_path / "new.jsonl", rows) == 0
    with pytest.raises(InputDataError, match="line 3 decides id '2' for another prompt"):
        check_resumable(out, changed)
    assert scan_file(other, changed, out, resume=False).checked == 6


@pytest.mark.parametrize("text", ['{"id": "1", "prompt": "a cat"}\n', "a cat\nsome notes",
                                  "notes without a newline"])
def test_a_file_that_is_not_a_scan_output_is_never_resumed_into(
        tmp_path: Path, guard: PromptGuard, text: str) -> None:
    out = tmp_path / "notes.jsonl"
    out.write_text(text)
    with pytest.raises(InputDataError, match="is not a scan decision"):
        scan_file(guard, [PromptRow("1", "a cat")], out)
    assert out.read_text() == text


def test_duplicate_ids_special_files_and_a_second_scan_are_refused(
        tmp_path: Path, guard: PromptGuard) -> None:
    twice = [PromptRow("1", "a cat"), PromptRow("1", "a naked woman")]
    with pytest.raises(InputDataError, match="id '1' appears twice in the prompts"):
        scan_file(guard, twice, tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()
    rows = [PromptRow(str(i), f"a cat number {i}") for i in range(3)]
    for special in (Path(os.devnull), tmp_path):
        with pytest.raises(InputDataError, match="--out takes a file path"):
            check_resumable(special, rows)
        with pytest.raises(InputDataError, match="--out takes a file path"):
            scan_file(guard, rows, special)
    out = tmp_path / "out.jsonl"
    scan_file(guard, rows[:2], out)
    with out.open("a") as other:  # another scan holds the output
        fcntl = pytest.importorskip("fcntl")
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        with pytest.raises(InputDataError, match="another scan is writing"):
            scan_file(guard, rows, out)
    # what two unlocked scans would have left: every id twice
    out.write_text(out.read_text() * 2)
    with pytest.raises(InputDataError, match="line 3 decides id '0' a second time"):
        scan_file(guard, rows, out)


def test_an_unwritable_output_is_a_clear_error(tmp_path: Path, guard: PromptGuard) -> None:
    rows = [PromptRow("1", "a cat")]
    with pytest.raises(InputDataError, match="is a folder; --out takes a file path"):
        scan_file(guard, rows, tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputDataError, match="cannot write the scan output"):
        scan_file(guard, rows, tmp_path / "file" / "out.jsonl")  # under a file


@pytest.mark.parametrize("tail", ['{"i', "{", "\x00\x00\x00", '{"id": "3", "act'])
def test_any_crash_tail_is_dropped_and_a_complete_last_line_kept(
        tmp_path: Path, guard: PromptGuard, tail: str) -> None:
    rows = [PromptRow(str(i), f"a cat number {i}") for i in range(5)]
    out = tmp_path / "out.jsonl"
    scan_file(guard, rows[:3], out)
    complete = out.read_text().rstrip("\n")  # a last line whose newline never made it
    out.write_text(complete)
    assert scan_file(guard, rows[:4], out).resumed == 3
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["0", "1", "2", "3"]
    with out.open("a") as fh:
        fh.write(tail)
    assert scan_file(guard, rows, out).resumed == 4
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [str(i) for i in range(5)]
