"""A throw-away X.509 certificate chain for C2PA signing in tests and demos.

.. warning::
   **For tests and demos only.** The private keys are generated in memory, written unencrypted
   when you ask for files, and the root is not trusted by anyone. Content signed with this chain
   verifies as ``"untrusted"`` unless the verifier passes :attr:`TestChain.root_pem` as a trust
   anchor. Production signing keys belong in a KMS or HSM (see ``docs/provenance.md``).

The chain has the shape C2PA validators accept (c2pa-rs refuses a self-signed end-entity):

* **root CA**: ECDSA P-256, ``BasicConstraints(ca=True)`` (critical), ``KeyUsage`` keyCertSign +
  cRLSign (critical), ``SubjectKeyIdentifier``;
* **end-entity signer**: ECDSA P-256, ``BasicConstraints(ca=False)``, ``KeyUsage`` digitalSignature
  (critical), ``ExtendedKeyUsage`` emailProtection, ``SubjectKeyIdentifier`` and
  ``AuthorityKeyIdentifier``, signed by the root with SHA-256.

Both certificates are valid from one day before creation for :data:`VALIDITY_DAYS` days (the day
of slack absorbs clock skew). Keys are fresh on every call; only the validity *window* is
deterministic. ``cryptography`` comes with the ``fairframe[provenance]`` extra.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairframe._deps import require

__all__ = ["VALIDITY_DAYS", "TestChain", "make_test_chain", "write_test_chain"]

#: Lifetime of both test certificates, in days (not_before is one day before creation).
VALIDITY_DAYS = 3650

_PURPOSE = "the C2PA test certificate chain"


@dataclass(frozen=True)
class TestChain:
    """PEM bytes of a test root, the signer's chain and the signer's private key.

    Attributes
    ----------
    root_pem:
        The root CA certificate; pass it as ``trust_anchors_pem`` to verify as ``"valid"``.
    chain_pem:
        End-entity certificate followed by the root, the order C2PA signers expect.
    key_pem:
        The end-entity's private key, unencrypted PKCS#8 PEM.
    """

    __test__ = False  # not a pytest test class despite the name

    root_pem: bytes
    chain_pem: bytes
    key_pem: bytes


def _name(x509: Any, common_name: str) -> Any:
    oid = x509.NameOID
    return x509.Name(
        [
            x509.NameAttribute(oid.COMMON_NAME, common_name),
            x509.NameAttribute(oid.ORGANIZATION_NAME, "Fairframe test (not trusted)"),
        ]
    )


def make_test_chain(
    common_name: str = "Fairframe Test Signer",
    *,
    now: _dt.datetime | None = None,
) -> TestChain:
    """Create a fresh root CA and end-entity signing certificate (ECDSA P-256).

    Parameters
    ----------
    common_name:
        Subject CN of the end-entity certificate; the root is named ``"<common_name> Root CA"``.
    now:
        Creation time (timezone-aware); defaults to the current UTC time. The certificates are
        valid from ``now - 1 day`` to ``now - 1 day + VALIDITY_DAYS``.

    Returns
    -------
    TestChain
        PEM bytes; see the module warning: for tests and demos only.
    """
    x509 = require("cryptography.x509", _PURPOSE, extra="provenance")
    hashes = require("cryptography.hazmat.primitives.hashes", _PURPOSE, extra="provenance")
    ec = require("cryptography.hazmat.primitives.asymmetric.ec", _PURPOSE, extra="provenance")
    ser = require("cryptography.hazmat.primitives.serialization", _PURPOSE, extra="provenance")

    start = (now or _dt.datetime.now(_dt.UTC)) - _dt.timedelta(days=1)
    end = start + _dt.timedelta(days=VALIDITY_DAYS)

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(x509, f"{common_name} Root CA")
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(root_ski, critical=False)
        .sign(root_key, hashes.SHA256())
    )

    ee_key = ec.generate_private_key(ec.SECP256R1())
    ee = (
        x509.CertificateBuilder()
        .subject_name(_name(x509, common_name))
        .issuer_name(root_name)
        .public_key(ee_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ee_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )

    pem = ser.Encoding.PEM
    root_pem: bytes = root.public_bytes(pem)
    key_pem: bytes = ee_key.private_bytes(pem, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    return TestChain(root_pem=root_pem, chain_pem=ee.public_bytes(pem) + root_pem, key_pem=key_pem)


def write_test_chain(directory: str | Path, chain: TestChain | None = None) -> dict[str, Path]:
    """Write a test chain as ``root.pem``, ``chain.pem`` and ``signer.key`` into ``directory``.

    Parameters
    ----------
    directory:
        Created if missing. The key file gets mode ``0o600``.
    chain:
        The chain to write; a fresh :func:`make_test_chain` when ``None``.

    Returns
    -------
    dict[str, Path]
        ``{"root": ..., "chain": ..., "key": ...}``.
    """
    chain = chain or make_test_chain()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"root": out / "root.pem", "chain": out / "chain.pem", "key": out / "signer.key"}
    paths["root"].write_bytes(chain.root_pem)
    paths["chain"].write_bytes(chain.chain_pem)
    paths["key"].touch(mode=0o600)
    paths["key"].chmod(0o600)
    paths["key"].write_bytes(chain.key_pem)
    return paths
