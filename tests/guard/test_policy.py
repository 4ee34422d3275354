"""Policy loading, validation errors and the non-configurable minors rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fairframe.errors import ConfigError
from fairframe.guard.decision import Action
from fairframe.guard.policy import (
    CATEGORY_DESCRIPTIONS,
    MINORS_MAX_THRESHOLD,
    Category,
    CategoryRule,
    Policy,
    default_policy,
    load_policy,
    parse_policy,
)


def test_every_category_has_a_description_and_a_default_rule() -> None:
    policy = default_policy()
    assert set(policy.categories) == set(Category)
    for cat in Category:
        assert CATEGORY_DESCRIPTIONS[cat] == cat.description
        assert cat.description.endswith(".")
    assert policy.version == "fairframe-default/2"
    assert policy.rule("sexual_minors").action is Action.BLOCK
    assert policy.rule(Category.VIOLENCE).action is Action.REWRITE
    # shocking content is recorded, not intervened (news and medical prompts share its words)
    assert policy.rule(Category.SHOCKING) == CategoryRule(threshold=0.7, action=Action.FLAG)


def test_required_categories_from_the_issue_exist() -> None:
    ids = {c.value for c in Category}
    assert ids == {"sexual", "nudity", "sexual_minors", "violence", "self_harm", "hate",
                   "illegal", "public_figures", "copyright", "privacy", "deception",
                   "adversarial", "appearance_change", "shocking"}


def test_toml_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('version = "acme/2"\n[categories.nudity]\naction = "flag"\n')
    policy = load_policy(path)
    assert policy.version == "acme/2"
    assert policy.rule("nudity").action is Action.FLAG
    assert policy.rule("nudity").threshold == default_policy().rule("nudity").threshold
    assert policy.rule("hate") == default_policy().rule("hate")


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("version: y1\ncategories:\n  violence: {threshold: 0.9, action: block}\n")
    policy = load_policy(path)
    assert policy.rule("violence").threshold == 0.9
    assert policy.rule("violence").action is Action.BLOCK


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ('version = "x"\n[categories.nudity]\naction = "nuke"\n',
         ["categories.nudity.action", "allow", "block"]),
        ('version = "x"\n[categories.nudity]\nthreshold = 1.5\n',
         ["categories.nudity.threshold", "1.5"]),
        ('version = "x"\n[categories.nudity]\nthreshold = true\n',
         ["categories.nudity.threshold", "not true/false"]),
        ('version = "x"\n[categories.gore]\naction = "block"\n',
         ["categories.gore", "sexual", "deception"]),
        ('version = "x"\n[categories.nudity]\nlevel = 3\n',
         ["categories.nudity.level", "unknown key", "threshold"]),
        ('versio = "x"\n', ["versio", "unknown key", "version"]),
        ('version = ""\n', ["version"]),
    ],
)
def test_errors_name_file_key_and_allowed_values(
    tmp_path: Path, content: str, needles: list[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    msg = str(info.value)
    assert str(path) in msg
    for needle in needles:
        assert needle in msg, msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ({"action": "allow"}, "categories.sexual_minors.action"),
        ({"action": "flag"}, "categories.sexual_minors.action"),
        ({"action": "regenerate"}, "categories.sexual_minors.action"),
        ({"threshold": MINORS_MAX_THRESHOLD + 0.01}, "categories.sexual_minors.threshold"),
        ({"threshold": 1.0}, "categories.sexual_minors.threshold"),
    ],
)
def test_minors_rule_is_not_configurable(rule: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy({"version": "x", "categories": {"sexual_minors": rule}}, source="p.toml")
    assert key in str(info.value)
    assert "not configurable" in str(info.value) or "always blocked" in str(info.value)


def test_minors_threshold_may_be_lowered() -> None:
    policy = parse_policy({"version": "x", "categories": {"sexual_minors": {"threshold": 0.1}}})
    assert policy.rule("sexual_minors").threshold == 0.1


def test_direct_construction_enforces_minors_and_completeness() -> None:
    rules = {c: default_policy().rule(c) for c in Category}
    rules[Category.SEXUAL_MINORS] = rules[Category.SEXUAL_MINORS].model_copy(
        update={"action": Action.FLAG})
    with pytest.raises(ValueError, match="always blocked"):
        Policy(version="x", categories=rules)
    with pytest.raises(ValueError, match="categories missing"):
        Policy(version="x", categories={Category.SEXUAL: rules[Category.SEXUAL]})


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("missing.toml", None, "does not exist"),
        ("p.json", "{}", "must end in .toml"),
        ("p.toml", "version = ", "not valid TOML"),
        ("p.yaml", "a: [", "not valid YAML"),
        ("p.yaml", "- a\n", "must hold a table/mapping at the top level"),
        ("p.yaml", "", "is empty"),
        ("p.yaml", "- 1\n- 2\n", "mapping"),
        ("p.toml", 'version = "x"\ncategories = 3\n', "categories"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: str | None, needle: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=needle):
        load_policy(path)


def test_unknown_category_lookup() -> None:
    with pytest.raises(ConfigError, match="allowed: sexual"):
        default_policy().rule("gore")


def test_policy_is_frozen() -> None:
    with pytest.raises(ValueError):
        default_policy().version = "y"  # type: ignore[misc]


def test_import_fairframe_does_not_import_guard() -> None:
    code = "import sys, fairframe; print('fairframe.guard' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
