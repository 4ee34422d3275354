"""Every shipped example config validates, and its components accept their options."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairframe.backends import GENERATORS, LABELERS, LLMS, build_component
from fairframe.config import load_config

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_config_is_valid(path: Path) -> None:
    cfg = load_config(path)
    # constructors are cheap (no weights, no network): this checks names and options only
    build_component(GENERATORS, cfg.generator.backend, cfg.generator.options)
    build_component(LABELERS, cfg.labeler.backend, cfg.labeler.options)
    if cfg.proposer.llm is not None:
        build_component(LLMS, cfg.proposer.llm.backend, cfg.proposer.llm.options)


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"tiny.toml", "sd-turbo-clip.toml", "sdxl-vlm-llm.toml",
                                         "folder.toml"}
