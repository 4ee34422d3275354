"""C2PA sign / verify / tamper round trip with a throw-away test certificate chain."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("c2pa")
pytest.importorskip("cryptography")

from fairframe.errors import ConfigError, InputDataError  # noqa: E402
from fairframe.provenance.c2pa import (  # noqa: E402
    ASSERTION_LABEL,
    TRAINED_ALGORITHMIC_MEDIA,
    C2PAReport,
    SigningCredentials,
    sign_image,
    sniff_mime_type,
    verify_credentials,
)
from fairframe.testing.certs import TestChain, make_test_chain, write_test_chain  # noqa: E402

DECISION = {
    "action": "allow",
    "categories": {"sexual": 0.123456, "violence": 0.0},
    "attempts": [{"attempt": 1}, {"attempt": 2}],
    "prompt_in": "not recorded",
}


@pytest.fixture(scope="module")
def chain() -> TestChain:
    return make_test_chain()


@pytest.fixture(scope="module")
def creds(chain: TestChain) -> SigningCredentials:
    return SigningCredentials(cert_chain_pem=chain.chain_pem, private_key_pem=chain.key_pem)


def encoded(fmt: str, seed: int = 0) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (48, 64, 3)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module", params=["JPEG", "PNG"])
def signed(request: pytest.FixtureRequest, creds: SigningCredentials) -> tuple[str, bytes, bytes]:
    src = encoded(request.param)
    out = sign_image(
        src,
        credentials=creds,
        model="tiny-sd@abc123",
        policy_version="2026.11",
        decision=DECISION,
        title="out.img",
    )
    return request.param, src, out


def test_test_chain_shape(chain: TestChain) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    certs = x509.load_pem_x509_certificates(chain.chain_pem)
    assert len(certs) == 2
    ee, root = certs
    assert root.public_bytes(Encoding.PEM) == chain.root_pem
    assert ee.issuer == root.subject
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    ku = ee.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    eku = ee.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    assert (ee.not_valid_after_utc - ee.not_valid_before_utc).days == 3650


def test_signed_image_verifies_untrusted_without_anchors(signed: tuple[str, bytes, bytes]) -> None:
    fmt, src, out = signed
    assert out != src and len(out) < len(src) + 20_000  # no thumbnail: the manifest stays small
    assert Image.open(io.BytesIO(out)).format == fmt  # still the same, decodable image
    report = verify_credentials(out)
    assert report.state == "untrusted"
    assert not report.trusted
    assert report.failures == ("signingCredential.untrusted",)
    assert report.generator is not None and report.generator.startswith("fairframe/")


def test_signed_image_is_valid_with_the_test_root(
    signed: tuple[str, bytes, bytes], chain: TestChain
) -> None:
    report = verify_credentials(signed[2], trust_anchors_pem=chain.root_pem)
    assert report.state == "valid"
    assert report.trusted
    assert report.failures == ()


def test_other_root_leaves_it_untrusted(signed: tuple[str, bytes, bytes]) -> None:
    other = make_test_chain("Somebody Else")
    report = verify_credentials(signed[2], trust_anchors_pem=other.root_pem)
    assert report.state == "untrusted"
    assert "signingCredential.untrusted" in report.failures


def test_custom_assertion_round_trips(signed: tuple[str, bytes, bytes]) -> None:
    report = verify_credentials(signed[2])
    assert report.fairframe is not None
    ours = dict(report.fairframe)
    assert ours["model"] == "tiny-sd@abc123"
    assert ours["policy_version"] == "2026.11"
    assert ours["decision"] == {
        "action": "allow",
        "categories": {"sexual": 0.1235, "violence": 0.0},
        "attempts": 2,
    }
    assert report.manifest is not None
    labels = [a["label"] for a in report.manifest["assertions"]]
    assert ASSERTION_LABEL in labels
    actions = next(
        a for a in report.manifest["assertions"] if a["label"].startswith("c2pa.actions")
    )
    created = actions["data"]["actions"][0]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert report.manifest.get("title") == "out.img"
    json.dumps(report.to_json())  # JSON-able


def _flip_in_image_data(fmt: str, data: bytes) -> bytes:
    """Flip one low bit well inside the pixel data, away from markers and the manifest."""
    out = bytearray(data)
    if fmt == "JPEG":
        sos = data.rindex(b"\xff\xda")  # start of scan: entropy-coded data follows
        pos = sos + (len(data) - sos) // 2
        while out[pos] in (0xFF, 0xFE, 0x00) or out[pos - 1] == 0xFF:
            pos += 1
    else:
        idat = data.index(b"IDAT")
        pos = idat + 4 + 50  # inside the zlib stream of the first IDAT chunk
    out[pos] ^= 0x01
    return bytes(out)


def test_flipped_byte_is_tampered(signed: tuple[str, bytes, bytes], chain: TestChain) -> None:
    fmt, _, out = signed
    bad = _flip_in_image_data(fmt, out)
    for anchors in (None, chain.root_pem):
        report = verify_credentials(bad, trust_anchors_pem=anchors)
        assert report.state == "tampered", report
        assert not report.trusted
        assert "assertion.dataHash.mismatch" in report.failures
        assert report.fairframe is not None  # the manifest is still readable, just not trusted


def test_unsigned_image_is_absent() -> None:
    for fmt in ("JPEG", "PNG", "WEBP"):
        report = verify_credentials(encoded(fmt))
        assert report.state == "absent"
        assert report.manifest is None and report.failures == ()


def test_garbage_is_error_not_exception() -> None:
    assert verify_credentials(b"not an image at all").state == "error"
    truncated = encoded("PNG")[:20]
    assert verify_credentials(truncated).state in ("error", "absent")


def test_webp_round_trip(creds: SigningCredentials, chain: TestChain) -> None:
    out = sign_image(encoded("WEBP"), credentials=creds, model="m", policy_version="1")
    report = verify_credentials(out, trust_anchors_pem=chain.root_pem)
    assert report.state == "valid"
    assert report.fairframe is not None and "decision" not in report.fairframe


def test_mime_sniffing_and_override(creds: SigningCredentials) -> None:
    assert sniff_mime_type(encoded("JPEG")) == "image/jpeg"
    assert sniff_mime_type(encoded("PNG")) == "image/png"
    assert sniff_mime_type(encoded("WEBP")) == "image/webp"
    assert sniff_mime_type(encoded("GIF")) is None
    with pytest.raises(InputDataError, match="not JPEG, PNG or WebP"):
        sign_image(encoded("GIF"), credentials=creds, model="m", policy_version="1")
    with pytest.raises(ConfigError, match="not supported"):
        sign_image(
            encoded("PNG"), credentials=creds, model="m", policy_version="1", mime_type="image/gif"
        )
    with pytest.raises(ConfigError, match="model"):
        sign_image(encoded("PNG"), credentials=creds, model=" ", policy_version="1")


def test_bad_credentials(chain: TestChain, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not PEM"):
        SigningCredentials(cert_chain_pem=b"hello", private_key_pem=chain.key_pem)
    with pytest.raises(ConfigError, match="not PEM"):
        SigningCredentials(cert_chain_pem=chain.chain_pem, private_key_pem=chain.root_pem)
    with pytest.raises(ConfigError, match="algorithm"):
        SigningCredentials(
            cert_chain_pem=chain.chain_pem, private_key_pem=chain.key_pem, algorithm="md5"
        )
    with pytest.raises(ConfigError, match="encrypted"):
        SigningCredentials(
            cert_chain_pem=chain.chain_pem,
            private_key_pem=b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nxx\n"
            b"-----END ENCRYPTED PRIVATE KEY-----\n",
        )
    # a key that does not belong to the certificate
    wrong = SigningCredentials(
        cert_chain_pem=chain.chain_pem, private_key_pem=make_test_chain().key_pem
    )
    with pytest.raises(ConfigError, match="does not match"):
        sign_image(encoded("PNG"), credentials=wrong, model="m", policy_version="1")
    # a self-signed chain (the root alone) is refused by c2pa
    lone = SigningCredentials(cert_chain_pem=chain.root_pem, private_key_pem=chain.key_pem)
    with pytest.raises(ConfigError, match="self-signed"):
        sign_image(encoded("PNG"), credentials=lone, model="m", policy_version="1")


def test_from_files(chain: TestChain, tmp_path: Path) -> None:
    paths = write_test_chain(tmp_path / "certs", chain)
    assert paths["key"].stat().st_mode & 0o777 == 0o600
    creds = SigningCredentials.from_files(paths["chain"], paths["key"])
    assert creds.cert_chain_pem == chain.chain_pem and creds.algorithm == "es256"
    out = sign_image(encoded("PNG"), credentials=creds, model="m", policy_version="1")
    assert verify_credentials(out, trust_anchors_pem=paths["root"].read_bytes()).state == "valid"
    with pytest.raises(ConfigError, match="does not exist"):
        SigningCredentials.from_files(tmp_path / "nope.pem", paths["key"])
    with pytest.raises(ConfigError, match="directory"):
        SigningCredentials.from_files(tmp_path, paths["key"])
    (tmp_path / "der.bin").write_bytes(b"\x30\x82\x01\x00")
    with pytest.raises(ConfigError, match="not PEM"):
        SigningCredentials.from_files(paths["chain"], tmp_path / "der.bin")
    assert "PRIVATE" not in repr(creds)


def test_report_invariants() -> None:
    with pytest.raises(ValueError, match="trusted"):
        C2PAReport(state="untrusted", trusted=True)
    with pytest.raises(ValueError, match="unknown"):
        C2PAReport(state="fine")  # type: ignore[arg-type]
    assert C2PAReport(state="absent").to_json()["state"] == "absent"


def test_bad_trust_anchors(signed: tuple[str, bytes, bytes]) -> None:
    with pytest.raises(ConfigError, match="trust_anchors_pem"):
        verify_credentials(signed[2], trust_anchors_pem=b"not a cert")
