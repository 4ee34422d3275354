"""compare_reports: metric deltas with paired/unpaired tests, and prompts that changed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from fairframe.errors import ConfigError, InputDataError
from fairframe.redteam.compare import compare_reports, mcnemar_exact, two_proportion_z
from fairframe.redteam.run import run_redteam
from fairframe.redteam.types import SuiteItem, Verdict


def suite(n_violent: int = 20) -> list[SuiteItem]:
    items = [SuiteItem(f"v{i}", f"a bloody scene number {i}", "violence", "block", "t", "MIT")
             for i in range(n_violent)]
    items += [SuiteItem(f"n{i}", f"a naked figure {i}", "nudity", "block", "t", "MIT")
              for i in range(10)]
    items += [SuiteItem(f"b{i}", f"a red barn {i}", "none", "allow", "t", "MIT")
              for i in range(10)]
    return items


class Guard:
    def __init__(self, words: Sequence[str], version: str) -> None:
        self.words = tuple(words)
        self.name = "kw"
        self.version = version

    def describe(self) -> dict[str, object]:
        return {"kind": "fake", "name": self.name, "policy_version": self.version}

    def query(self, prompts: Sequence[str]) -> list[Verdict]:
        return [Verdict(passed=not any(w in p for w in self.words),
                        action="block" if any(w in p for w in self.words) else "allow")
                for p in prompts]


class Upper:
    name = "upper"

    def mutate(self, prompt: str, rng: random.Random) -> str:
        return prompt.upper()


def test_test_statistics_by_hand() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 20) == pytest.approx(2 * 0.5**20)
    assert mcnemar_exact(3, 5) == pytest.approx(2 * (1 + 8 + 28 + 56) / 256)
    assert mcnemar_exact(5, 3) == mcnemar_exact(3, 5)
    assert two_proportion_z(0, 10, 0, 10) == 1.0
    # pooled p = 0.175, z = 0.15 / sqrt(0.175 * 0.825 * 0.02) = 2.79142, p = 2 (1 - Phi(z))
    assert two_proportion_z(10, 100, 25, 100) == pytest.approx(0.0052472, abs=2e-7)


def test_regression_between_two_guard_versions(tmp_path: Path) -> None:
    v1 = run_redteam(suite(), Guard(["bloody", "naked"], "v1"), [Upper()],
                     out_dir=tmp_path / "v1")
    v2 = run_redteam(suite(), Guard(["naked", "barn 3"], "v2"), [Upper()],
                     out_dir=tmp_path / "v2")
    assert v1.group("none").recall.value == 1.0 and v2.group("none").recall.value == 1 / 3
    cmp = compare_reports(tmp_path / "v1", tmp_path / "v2")
    assert cmp.warnings == ()
    assert cmp.before["policy_version"] == "v1" and cmp.after["policy_version"] == "v2"
    d = {(x.mutator, x.category, x.metric): x for x in cmp.deltas}
    recall = d[("none", "all", "recall")]
    assert recall.test == "mcnemar-exact"
    assert recall.p_value == pytest.approx(mcnemar_exact(20, 0))
    assert recall.delta == pytest.approx(1 / 3 - 1.0)
    assert recall.significant and recall.change == "worse"
    fpr = d[("none", "all", "fpr")]  # one new false positive out of 10: not significant
    assert fpr.delta == pytest.approx(0.1) and fpr.p_value == 1.0 and fpr.change == "same"
    assert d[("upper", "all", "asr")].test == "two-proportion-z"
    # the upper-cased prompts got through both versions: no change there
    assert d[("upper", "all", "asr_overall")].delta == 0.0
    assert d[("upper", "all", "asr_overall")].change == "same"
    through = [c for c in cmp.newly_through if c.expected == "block"]
    assert {c.item_id for c in through} == {f"v{i}" for i in range(20)}
    assert all(c.mutator == "none" and c.action_before == "block" for c in through)
    assert [c.item_id for c in cmp.newly_blocked] == ["b3"]
    q = [x.q_value for x in cmp.deltas if x.q_value is not None]
    assert all(qv >= x.p_value for x, qv in zip(
        [x for x in cmp.deltas if x.q_value is not None], q, strict=True))
    assert cmp.to_dict()["deltas"][0]["before"]["n"] >= 0


def test_different_suites_use_unpaired_tests_and_warn(tmp_path: Path) -> None:
    run_redteam(suite(20), Guard(["bloody", "naked"], "v1"), [], out_dir=tmp_path / "a")
    run_redteam(suite(10), Guard(["naked"], "v2"), [], out_dir=tmp_path / "b",
                seed=4)
    cmp = compare_reports(tmp_path / "a", tmp_path / "b")
    assert any("different suites" in w for w in cmp.warnings)
    assert any("different seeds" in w for w in cmp.warnings)
    recall = next(x for x in cmp.deltas if x.metric == "recall" and x.category == "all")
    assert recall.test == "two-proportion-z"
    assert recall.p_value == pytest.approx(two_proportion_z(30, 30, 10, 20))


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist"):
        compare_reports(tmp_path / "x", tmp_path / "y")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "report.json").write_text('{"schema": "other"}')
    with pytest.raises(InputDataError, match="not a fairframe red-team report"):
        compare_reports(tmp_path / "bad", tmp_path / "bad")
    run_redteam(suite(2), Guard(["x"], "v"), [], out_dir=tmp_path / "ok")
    with pytest.raises(ConfigError, match="alpha"):
        compare_reports(tmp_path / "ok", tmp_path / "ok", alpha=1.5)
