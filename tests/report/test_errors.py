"""Unusable run folders: one-line InputDataError naming the file and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairframe.errors import InputDataError
from fairframe.report import build_report_data, write_report


@pytest.mark.parametrize("name", ["manifest.json", "scores.json"])
def test_missing_required_file(run_dir: Path, name: str) -> None:
    (run_dir / name).unlink()
    with pytest.raises(InputDataError) as info:
        write_report(run_dir)
    msg = str(info.value)
    assert "\n" not in msg
    assert f"{name} not found in {run_dir}" in msg
    assert f"run `fairframe audit run CONFIG --out {run_dir}` first" in msg
    assert not (run_dir / "report.html").exists()


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist; run `fairframe audit run CONFIG"):
        build_report_data(tmp_path / "nope")


def test_corrupt_answers(run_dir: Path) -> None:
    (run_dir / "answers.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputDataError, match=r"answers\.parquet is not a readable Parquet file"):
        write_report(run_dir)


def test_answers_without_needed_columns(run_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"caption_id": ["c1"]}), run_dir / "answers.parquet")
    with pytest.raises(InputDataError, match="lacks the column"):
        build_report_data(run_dir)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\udcff"])
def test_unreadable_scores(run_dir: Path, content: str) -> None:
    (run_dir / "scores.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(InputDataError, match=r"scores\.json"):
        build_report_data(run_dir)
