from __future__ import annotations

import pytest

from fairframe.backends import GENERATORS, LABELERS, LLMS, build_component
from fairframe.backends.fake import FakeGenerator
from fairframe.errors import (
    ConfigError,
    DuplicateComponentError,
    PluginLoadError,
    UnknownComponentError,
)
from fairframe.registry import Registry, import_object


def test_unknown_name_lists_available() -> None:
    with pytest.raises(UnknownComponentError) as info:
        GENERATORS.get("difusers")
    msg = str(info.value)
    assert "difusers" in msg and "diffusers" in msg and "folder" in msg
    assert isinstance(info.value, LookupError)


def test_builtins_are_lazy_strings_until_used() -> None:
    reg: Registry[type] = Registry("thing", {"fake": "fairframe.backends.fake:FakeGenerator"})
    assert isinstance(reg.entries()["fake"], str)
    assert reg.get("fake") is FakeGenerator
    assert reg.entries()["fake"] is FakeGenerator


def test_register_duplicate_and_replace() -> None:
    reg: Registry[object] = Registry("thing")
    reg.register("a", int)
    with pytest.raises(DuplicateComponentError):
        reg.register("a", str)
    reg.register("a", str, replace=True)
    assert reg.get("a") is str
    reg.unregister("a")
    assert "a" not in reg


def test_escape_hatch_and_bad_paths() -> None:
    assert GENERATORS.get("fairframe.backends.fake:FakeGenerator") is FakeGenerator
    assert import_object("fairframe.backends.fake.FakeGenerator") is FakeGenerator
    with pytest.raises(PluginLoadError, match="no_such_module"):
        GENERATORS.get("no_such_module:Thing")
    with pytest.raises(PluginLoadError, match="has no attribute"):
        GENERATORS.get("fairframe.backends.fake:Nope")


def test_entry_point_plugins_are_found(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    import fairframe.registry as registry_mod

    eps = [EntryPoint("my-gen", "fairframe.backends.fake:FakeGenerator", "fairframe.generators"),
           EntryPoint("fake", "builtins:object", "fairframe.generators")]
    monkeypatch.setattr(registry_mod, "entry_points", lambda group: eps)
    reg: Registry[object] = Registry("generator", {"fake": "fairframe.backends.fake:FakeGenerator"})
    assert "my-gen" in reg.names()
    assert reg.get("my-gen") is FakeGenerator
    assert reg.get("fake") is FakeGenerator  # built-ins win clashes


def test_all_builtin_backends_import_without_loading_models() -> None:
    for reg in (GENERATORS, LABELERS, LLMS):
        for name in reg.names():
            assert callable(reg.get(name))


def test_build_component_checks_options() -> None:
    gen = build_component(GENERATORS, "fake", {"size": 16})
    assert gen.size == 16
    with pytest.raises(ConfigError, match=r"\[generator\]: unknown option 'sise'.*allowed: .*size"):
        build_component(GENERATORS, "fake", {"sise": 16}, where="[generator]")
    with pytest.raises(ConfigError, match="needs option 'manifest'"):
        build_component(GENERATORS, "folder", {})
    with pytest.raises(ConfigError, match="size must be >= 8"):
        build_component(GENERATORS, "fake", {"size": 2})
    with pytest.raises(ConfigError, match="does not implement"):
        build_component(GENERATORS, "builtins:dict", {})
