"""The option checks, identities and error wrapping the torch backends share (no torch needed)."""

from __future__ import annotations

import json
import types

import pytest

from fairframe.backends._hf import (
    HFModelOptions,
    check_common_options,
    dtype_kwarg,
    first_line,
    loading_model,
    model_failures,
)
from fairframe.errors import BackendError, ConfigError, InputDataError, ModelLoadError


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "float32", 4), "needs a model"),
        (("m", "int8", 4), "unknown dtype 'int8'; use one of bf16, bfloat16, float16, float32, "),
        (("m", "float32", 0), "batch_size must be >= 1, got 0"),
    ],
)
def test_plain_option_messages(args: tuple[str, str, int], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_common_options(*args, missing_model="needs a model")
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("  ", "float32", 4), "X: 'model' must be a hub id or a local folder"),
        (("m", "int8", 4), "X: unknown dtype 'int8'; use one of float32, fp32, float16, "),
        (("m", "float32", True), "X: batch_size must be an integer >= 1, got True"),
    ],
)
def test_prefixed_option_messages(args: tuple[str, str, int], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_common_options(*args, who="X")
    assert str(info.value).startswith(message)


def test_batch_size_none_is_not_checked() -> None:
    check_common_options("m", "fp16", missing_model="unused")
    check_common_options("m", "fp16", who="X")


def test_base_identity_order_and_cached_revision() -> None:
    opts = HFModelOptions(model="org/m", revision="abc", device="cpu", dtype="bf16", batch_size=2)
    ident = opts.base_identity("x")
    assert json.dumps(ident) == (
        '{"backend": "x", "model": "org/m", "revision": "abc", "dtype": "bfloat16"}'
    )
    assert (opts.batch_size, opts.max_batch_size) == (2, 2)
    unbatched = HFModelOptions(model="m", revision=None, device="cpu", dtype="fp32")
    assert not hasattr(unbatched, "batch_size")


def test_first_line() -> None:
    assert first_line(ValueError("  one\ntwo")) == "one"
    assert first_line(ValueError("x" * 400)) == "x" * 300
    assert first_line(ValueError("")) == "ValueError"
    assert first_line(ValueError(""), "") == ""


def test_model_failures_wraps_all_but_fairframe_errors() -> None:
    with pytest.raises(BackendError) as info, model_failures("vlm labeler", "m"):
        raise RuntimeError("boom\ndetails")
    assert str(info.value) == "vlm labeler 'm' failed: RuntimeError: boom"
    with pytest.raises(BackendError) as info, model_failures("vlm labeler", "m"):
        raise RuntimeError()
    assert str(info.value) == "vlm labeler 'm' failed: RuntimeError: "
    with pytest.raises(InputDataError), model_failures("vlm labeler", "m"):
        raise InputDataError("kept")


def test_loading_model_gives_one_line_model_load_errors() -> None:
    with pytest.raises(ModelLoadError) as info, loading_model("org/name"):
        raise OSError("not found\nmore")
    assert str(info.value).startswith("cannot load model 'org/name': not found; ")
    with pytest.raises(ConfigError), loading_model("org/name"):
        raise ConfigError("kept")


def test_dtype_kwarg() -> None:
    old_tf = types.SimpleNamespace(__name__="transformers", __version__="4.55.2")
    new_tf = types.SimpleNamespace(__name__="transformers", __version__="5.0.0")
    dev_tf = types.SimpleNamespace(__name__="transformers", __version__="main")
    assert [dtype_kwarg(m) for m in (old_tf, new_tf, dev_tf)] == ["torch_dtype", "dtype", "dtype"]
    utils = types.SimpleNamespace(deprecation_utils=types.SimpleNamespace(_resolve_dtype=None))
    new_df = types.SimpleNamespace(__name__="diffusers", utils=utils)
    old_df = types.SimpleNamespace(__name__="diffusers", utils=types.SimpleNamespace())
    assert [dtype_kwarg(m) for m in (new_df, old_df)] == ["dtype", "torch_dtype"]
