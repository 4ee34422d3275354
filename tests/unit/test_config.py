from __future__ import annotations

from pathlib import Path

import pytest

from fairframe.config import load_config, parse_config
from fairframe.errors import ConfigError

GOOD = """
name = "t"
cache_dir = "cache"

[captions]
source = "captions.txt"

[generator]
backend = "fake"
size = 16

[labeler]
backend = "fake"

[generation]
images_per_caption = 3
seed = 5
"""


def test_toml_loads_and_resolves_paths(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(GOOD)
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.cache_dir == (tmp_path / "cache").resolve()
    assert cfg.captions.source == str((tmp_path / "captions.txt").resolve())
    assert cfg.generator.backend == "fake" and cfg.generator.options == {"size": 16}
    assert cfg.generation.images_per_caption == 3 and cfg.generation.seed == 5
    with pytest.raises(Exception):  # noqa: B017 - frozen models refuse assignment
        cfg.name = "x"  # type: ignore[misc]


def test_yaml_equals_toml(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(GOOD)
    (tmp_path / "c.yaml").write_text(
        "name: t\ncache_dir: cache\ncaptions: {source: captions.txt}\n"
        "generator: {backend: fake, size: 16}\nlabeler: {backend: fake}\n"
        "generation: {images_per_caption: 3, seed: 5}\n"
    )
    assert load_config(tmp_path / "c.toml") == load_config(tmp_path / "c.yaml")


def test_builtin_captions_and_dot_paths(tmp_path: Path) -> None:
    cfg = parse_config({"captions": {"source": "builtin:people"},
                        "generator": {"backend": "folder", "manifest": "m.csv"},
                        "labeler": {"backend": "fake"}})
    assert cfg.captions.source == "builtin:people"
    (tmp_path / "c.toml").write_text(
        '[captions]\nsource = "builtin:people"\n[generator]\nbackend = "folder"\n'
        'manifest = "./imgs/m.csv"\n[labeler]\nbackend = "fake"\n'
    )
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.captions.source == "builtin:people"
    assert cfg.generator.options["manifest"] == str((tmp_path / "imgs/m.csv").resolve())


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (GOOD.replace("[generation]", "[generaton]"),
         r"c\.toml: generaton: unknown key; allowed: .*generation"),
        (GOOD.replace("seed = 5", "sead = 5"),
         r"\[generation\] sead: unknown key; allowed: .*seed"),
        (GOOD.replace("images_per_caption = 3", "images_per_caption = 0"),
         r"\[generation\] images_per_caption: .*greater than or equal to 1 \(got 0\)"),
        (GOOD.replace('[labeler]\nbackend = "fake"\n', ""), r"labeler: is required"),
        (GOOD + '\n[proposer]\nkind = "llm"\n', r"proposer.*\[proposer.llm\]"),
        (GOOD + '\n[proposer]\nkind = "gpt"\n', r"\[proposer\] kind: .*'taxonomy' or 'llm'"),
        (GOOD.replace("seed = 5", "seed = 18446744073709551615"),
         r"\[generation\] seed: .*less than or equal to"),
        (GOOD + '\n[[scoring.references]]\nbias = "person/gender"\n'
                'shares = { man = 1.0, woman = 0.0 }\n', r"fewer than two classes"),
        (GOOD + '\n[[scoring.references]]\nbias = "person/gender"\n'
                'shares = { man = -0.2, woman = 1.2 }\n', r"shares must be >= 0, got \{'man'"),
        ("name = ", r"not valid TOML"),
        ("", r"empty"),
    ],
)
def test_bad_configs_name_file_key_and_fix(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=pattern):
        load_config(path)


def test_missing_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"\.toml, \.yaml or \.yml"):
        load_config(tmp_path / "c.json")
    (tmp_path / "c.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "d.yaml")


def test_enum_member_names_the_value_and_every_allowed_one() -> None:
    from fairframe.config import enum_member
    from fairframe.errors import ConfigError
    from fairframe.guard.decision import Action

    assert enum_member(Action, "flag", "action") is Action.FLAG
    with pytest.raises(ConfigError, match=r"^x\.toml: unknown action 'nope'; allowed: allow, flag, "
                       r"rewrite, regenerate, block$"):
        enum_member(Action, "nope", "action", where="x.toml")


def test_cache_dir_expands_the_home_folder(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = tmp_path / "c.toml"
    path.write_text(GOOD.replace('cache_dir = "cache"', 'cache_dir = "~/ff_cache"'))
    assert load_config(path).cache_dir == (tmp_path / "home" / "ff_cache").resolve()
