"""``fairframe provenance keygen|embed|verify|sign|test-certs`` and ``fairframe guard
check-image`` through the CLI runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from fairframe.cli import app
from fairframe.provenance.watermark import save_key

runner = CliRunner()

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    # 384 px: below ~288 px a side the mark is documented as unreliable (docs/provenance.md:
    # 19/20 payloads at 256 px), which made this test fail for about one random key in 80
    path = tmp_path / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).resize((384, 384)).save(path)
    return path


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "wm.key"
    r = runner.invoke(app, ["provenance", "keygen", str(path)])
    assert r.exit_code == 0, r.output
    # a fixed key from here on, so that every run tests the same mark
    save_key(bytes(range(32)), path)
    return path


def test_keygen_writes_a_private_key_and_refuses_to_overwrite(key: Path) -> None:
    assert key.exists()
    if os.name == "posix":
        assert key.stat().st_mode & 0o077 == 0
    r = runner.invoke(app, ["provenance", "keygen", str(key)])
    assert r.exit_code == 2
    assert "--force" in r.output


def test_embed_then_verify_reports_the_payload(tmp_path: Path, photo: Path, key: Path) -> None:
    out = tmp_path / "marked.png"
    r = runner.invoke(app, ["provenance", "embed", str(photo), str(out), "--key-file", str(key),
                            "--payload", "c0ffee42", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["payload"] == "c0ffee42"
    assert json.loads(r.stdout)["verified"] is True
    r = runner.invoke(app, ["provenance", "verify", str(out), "--key-file", str(key), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["fairframe_watermark"]["detected"] is True
    assert report["fairframe_watermark"]["payload"] == "c0ffee42"
    # the unmarked original: not detected
    r = runner.invoke(app, ["provenance", "verify", str(photo), "--key-file", str(key), "--json"])
    assert json.loads(r.stdout)["fairframe_watermark"]["detected"] is False
    # another key does not read the mark
    other = tmp_path / "other.key"
    save_key(bytes(range(1, 33)), other)
    r = runner.invoke(app, ["provenance", "verify", str(out), "--key-file", str(other), "--json"])
    assert json.loads(r.stdout)["fairframe_watermark"]["detected"] is False


def test_embed_warns_when_the_mark_cannot_be_read_back(tmp_path: Path, key: Path) -> None:
    import numpy as np

    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
                    ).save(noise)
    r = runner.invoke(app, ["provenance", "embed", str(noise), str(tmp_path / "n.jpg"),
                            "--key-file", str(key), "--quality", "40", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["verified"] is False
    assert "cannot be read back" in r.stderr


def test_embed_rejects_a_bad_payload_and_a_missing_key(tmp_path: Path, photo: Path,
                                                       key: Path) -> None:
    out = tmp_path / "x.png"
    r = runner.invoke(app, ["provenance", "embed", str(photo), str(out), "--key-file", str(key),
                            "--payload", "zz"])
    assert r.exit_code == 2
    assert "hex" in r.output
    r = runner.invoke(app, ["provenance", "embed", str(photo), str(out), "--key-file",
                            str(tmp_path / "nope.key")])
    assert r.exit_code == 2
    assert "keygen" in r.output
    r = runner.invoke(app, ["provenance", "embed", str(photo), str(tmp_path / "x.bmpx"),
                            "--key-file", str(key)])
    assert r.exit_code == 2
    assert ".png" in r.output
    assert not out.exists()


def test_embed_and_sign_then_verify_with_trust_anchors(tmp_path: Path, photo: Path,
                                                       key: Path) -> None:
    pytest.importorskip("c2pa")
    certs = tmp_path / "certs"
    r = runner.invoke(app, ["provenance", "test-certs", str(certs)])
    assert r.exit_code == 0, r.output
    paths = json.loads(r.stdout)
    out = tmp_path / "signed.jpg"
    r = runner.invoke(app, ["provenance", "embed", str(photo), str(out), "--key-file", str(key),
                            "--cert-chain", paths["chain"], "--private-key", paths["key"],
                            "--model", "tiny-sd", "--policy-version", "p/1"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["provenance", "verify", str(out), "--key-file", str(key), "--json"])
    report = json.loads(r.stdout)
    assert report["c2pa"]["state"] == "untrusted"
    assert report["fairframe_watermark"]["detected"] is True
    r = runner.invoke(app, ["provenance", "verify", str(out), "--trust-anchors", paths["root"],
                            "--json"])
    report = json.loads(r.stdout)
    assert report["c2pa"]["state"] == "valid"
    assert report["c2pa"]["fairframe"]["model"] == "tiny-sd"
    assert report["fairframe_watermark"] is None  # no key given
    # text output lists the findings
    r = runner.invoke(app, ["provenance", "verify", str(out), "--key-file", str(key)])
    assert r.exit_code == 0
    assert "c2pa" in r.output.lower()


def test_check_image_json_and_bad_file(tmp_path: Path, photo: Path) -> None:
    pytest.importorskip("nudenet")
    r = runner.invoke(app, ["guard", "check-image", str(photo), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["action"] == "allow"
    assert d["categories"]["nudity"] < 0.5
    assert "nudenet" in d["latency_ms"]
    assert d["provenance"]["sdxl_watermark"]["detected"] is False
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n-- truncated")
    r = runner.invoke(app, ["guard", "check-image", str(bad)])
    assert r.exit_code == 2
    assert "truncated" in r.output or "not an image" in r.output
    r = runner.invoke(app, ["guard", "check-image", str(tmp_path / "missing.png")])
    assert r.exit_code == 2
    assert "does not exist" in r.output


def test_embed_and_sign_refuse_to_overwrite_their_input(photo: Path, key: Path) -> None:
    before = photo.read_bytes()
    r = runner.invoke(app, ["provenance", "embed", str(photo), str(photo), "--key-file", str(key)])
    assert r.exit_code == 2 and "is the input image" in r.output
    r = runner.invoke(app, ["provenance", "sign", str(photo), str(photo), "--cert-chain", "c.pem",
                            "--private-key", "k.pem"])
    assert r.exit_code == 2 and "is the input image" in r.output
    assert photo.read_bytes() == before


def test_sign_refuses_an_output_name_of_another_format(photo: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["provenance", "sign", str(photo), str(tmp_path / "x.jpg"),
                            "--cert-chain", "c.pem", "--private-key", "k.pem"])
    assert r.exit_code == 2 and "does not re-encode" in r.output and "x.png" in r.output
    assert not (tmp_path / "x.jpg").exists()
