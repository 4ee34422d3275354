"""C2PA content credentials: sign generated images, verify incoming ones (c2pa-python).

**Signing** (:func:`sign_image`) embeds a C2PA manifest in a JPEG, PNG or WebP file. It works
offline with a certificate chain the user provides (:class:`SigningCredentials`): the end-entity
certificate first, then its issuers, and the end-entity's private key. The manifest holds

* a ``c2pa.actions`` assertion with one ``c2pa.created`` action, ``digitalSourceType``
  :data:`TRAINED_ALGORITHMIC_MEDIA` (IPTC "created by a trained model") and ``softwareAgent``
  ``fairframe/<version>``;
* a custom assertion :data:`ASSERTION_LABEL` with the generating ``model``, the guard's
  ``policy_version``, fairframe's version and a small summary of the guard decision
  (``action``, ``categories`` rounded to 4 decimals, number of generation ``attempts``).

No thumbnail is embedded by default (c2pa-rs would add one: +180 kB on a 3 kB JPEG).

**Verifying** (:func:`verify_credentials`) reads the active manifest and reports one of five
states (:class:`C2PAReport`):

========== =================================================================================
state      meaning
========== =================================================================================
valid      signature and every hash check out, and the signer chains to a trust anchor given
           in ``trust_anchors_pem``
untrusted  intact (signature and hashes check out), but the signer is not trusted: no anchors
           were given, the chain leads to none of them, or the only failures are about the
           signing credential (``signingCredential.*``: untrusted, expired, revoked, ...)
tampered   an integrity failure: the asset's bytes no longer match the signed hash
           (``assertion.dataHash.mismatch``), the claim signature does not verify
           (``claimSignature.mismatch``), an assertion was altered or the manifest itself is
           corrupt (``manifest.unreadable``)
absent     the file carries no C2PA manifest (it may still have been stripped of one)
error      the input is not a readable image in a format c2pa supports, or c2pa is missing
========== =================================================================================

``absent`` proves nothing: re-encoding, screenshots and most upload pipelines strip the manifest,
which is why fairframe pairs C2PA with watermarks (:mod:`fairframe.provenance.inspect`).

c2pa-python is imported on first use; without it the functions raise
:class:`~fairframe.errors.MissingDependencyError` naming ``fairframe[provenance]``.

.. warning::
   Whoever holds the private key can sign anything in your name. Keep production keys in a KMS or
   HSM and sign through it; a PEM key on disk is for development. The test chain in
   :mod:`fairframe.testing.certs` is trusted by nobody.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any, Literal

from fairframe._deps import require
from fairframe._version import __version__
from fairframe.errors import ConfigError, InputDataError

__all__ = [
    "ASSERTION_LABEL",
    "SIGNING_ALGORITHMS",
    "SUPPORTED_MIME_TYPES",
    "TRAINED_ALGORITHMIC_MEDIA",
    "C2PAReport",
    "C2PAState",
    "SigningCredentials",
    "build_manifest",
    "sign_image",
    "sniff_mime_type",
    "verify_credentials",
]

#: Label of fairframe's custom assertion (model, policy version, decision summary).
ASSERTION_LABEL = "org.fairframe.guard"
#: IPTC digital source type for media created by a trained model.
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
#: Image types :func:`sign_image` and :func:`verify_credentials` accept.
SUPPORTED_MIME_TYPES = ("image/jpeg", "image/png", "image/webp")
#: Signature algorithms, by their c2pa name (lower case); the key type must match.
SIGNING_ALGORITHMS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")

#: One of the five verification outcomes (see the module docstring).
C2PAState = Literal["valid", "untrusted", "tampered", "absent", "error"]

_PURPOSE = "C2PA content credentials"
_EXTRA = "provenance"
_MIME_ALIASES = {
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "image/jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}
# c2pa errors that mean "the bytes are not an asset c2pa can parse" rather than "a manifest is
# there but broken"; anything else raised while reading a recognised image means tampering.
_UNREADABLE_MESSAGES = ("asset could not be parsed", "type is unsupported")


def _c2pa() -> ModuleType:
    return require("c2pa", _PURPOSE, extra=_EXTRA)


def sniff_mime_type(data: bytes) -> str | None:
    """The MIME type of JPEG, PNG or WebP bytes from their magic numbers, else ``None``.

    >>> sniff_mime_type(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8))
    'image/png'
    """
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _mime(data: bytes, mime_type: str | None) -> str:
    if mime_type is not None:
        norm = _MIME_ALIASES.get(mime_type.strip().lower(), mime_type.strip().lower())
        if norm not in SUPPORTED_MIME_TYPES:
            raise ConfigError(
                f"mime_type {mime_type!r} is not supported; use one of "
                f"{', '.join(SUPPORTED_MIME_TYPES)} (or leave it out to sniff it from the bytes)"
            )
        return norm
    sniffed = sniff_mime_type(data)
    if sniffed is None:
        raise InputDataError(
            f"image bytes start with {data[:12]!r}, which is not JPEG, PNG or WebP; "
            "C2PA signing and verification support those three formats"
        )
    return sniffed


# --------------------------------------------------------------------------------------- signing


def _check_pem(data: bytes, what: str, marker: bytes, source: str) -> None:
    if not isinstance(data, bytes | bytearray):
        raise ConfigError(f"{what} must be PEM bytes, got {type(data).__name__}")
    if marker not in data:
        raise ConfigError(
            f"{what} ({source}) is not PEM: no '{marker.decode()}' block found; "
            "convert DER files with `openssl x509 -inform der` / `openssl pkcs8 -topk8 -nocrypt`"
        )


@dataclass(frozen=True)
class SigningCredentials:
    """A certificate chain and private key to sign C2PA manifests with.

    Attributes
    ----------
    cert_chain_pem:
        PEM certificates, end-entity first, then each issuer (the root may be left out).
        C2PA validators require an end-entity certificate signed by a CA, with the
        ``digitalSignature`` key usage and an extended key usage such as emailProtection.
    private_key_pem:
        The end-entity's private key, unencrypted PEM (PKCS#8 or traditional).
    algorithm:
        One of :data:`SIGNING_ALGORITHMS`; must match the key (``es256`` for P-256).
    tsa_url:
        An RFC 3161 timestamp authority to countersign with, or ``None`` to sign offline (the
        signature is then only valid while the certificate is).

    .. warning::
       Keep production keys in a KMS or HSM; a key in a file is for development and tests.
    """

    cert_chain_pem: bytes = field(repr=False)
    private_key_pem: bytes = field(repr=False)
    algorithm: str = "es256"
    tsa_url: str | None = None

    def __post_init__(self) -> None:
        _check_pem(self.cert_chain_pem, "cert_chain_pem", b"-----BEGIN CERTIFICATE-----", "memory")
        _check_pem(self.private_key_pem, "private_key_pem", b"PRIVATE KEY-----", "memory")
        if b"ENCRYPTED PRIVATE KEY" in self.private_key_pem:
            raise ConfigError(
                "private_key_pem is encrypted; c2pa needs an unencrypted key "
                "(`openssl pkcs8 -topk8 -nocrypt`), or better, sign through a KMS/HSM"
            )
        alg = str(self.algorithm).lower()
        if alg not in SIGNING_ALGORITHMS:
            raise ConfigError(
                f"algorithm {self.algorithm!r} is unknown; "
                f"use one of {', '.join(SIGNING_ALGORITHMS)}"
            )
        object.__setattr__(self, "algorithm", alg)
        object.__setattr__(self, "cert_chain_pem", bytes(self.cert_chain_pem))
        object.__setattr__(self, "private_key_pem", bytes(self.private_key_pem))

    @classmethod
    def from_files(
        cls,
        cert_chain: str | Path,
        private_key: str | Path,
        algorithm: str = "es256",
        *,
        tsa_url: str | None = None,
    ) -> SigningCredentials:
        """Read the chain and key from PEM files.

        Raises
        ------
        ConfigError
            A file is missing, unreadable or not PEM; the message names the file.
        """
        cert = _read_pem_file(cert_chain, "certificate chain", b"-----BEGIN CERTIFICATE-----")
        key = _read_pem_file(private_key, "private key", b"PRIVATE KEY-----")
        return cls(cert_chain_pem=cert, private_key_pem=key, algorithm=algorithm, tsa_url=tsa_url)


def _read_pem_file(path: str | Path, what: str, marker: bytes) -> bytes:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} file {p} does not exist; check the path") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{what} path {p} is a directory; give the PEM file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {p}: {exc.strerror}") from exc
    _check_pem(data, what, marker, str(p))
    return data


def _decision_summary(decision: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    action = decision.get("action")
    if action is not None:
        out["action"] = str(getattr(action, "value", action))
    cats = decision.get("categories")
    if isinstance(cats, Mapping):
        clean: dict[str, float] = {}
        for name, score in cats.items():
            value = float(score)
            if not math.isfinite(value):
                raise ConfigError(f"decision category {name!r} has a non-finite score {score!r}")
            clean[str(name)] = round(value, 4)
        out["categories"] = clean
    attempts: Any = decision.get("attempts")
    if isinstance(attempts, bool) or not isinstance(attempts, int | list | tuple):
        if attempts is not None:
            raise ConfigError(
                f"decision attempts must be a count or a list of attempts, got {attempts!r}"
            )
    else:
        out["attempts"] = attempts if isinstance(attempts, int) else len(attempts)
    return out


def build_manifest(
    *,
    model: str,
    policy_version: str,
    decision: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """The manifest definition :func:`sign_image` signs (a JSON-able dict).

    Parameters
    ----------
    model, policy_version, decision, title:
        As in :func:`sign_image`.
    """
    if not isinstance(model, str) or not model.strip():
        raise ConfigError("model must be a non-empty string naming the generating model")
    if not isinstance(policy_version, str):
        raise ConfigError(f"policy_version must be a string, got {type(policy_version).__name__}")
    agent = {"name": "fairframe", "version": __version__}
    ours: dict[str, Any] = {
        "model": model,
        "policy_version": policy_version,
        "fairframe_version": __version__,
    }
    if decision is not None:
        ours["decision"] = _decision_summary(decision)
    manifest: dict[str, Any] = {
        "claim_generator_info": [agent],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": agent,
                        }
                    ]
                },
            },
            {"label": ASSERTION_LABEL, "data": ours},
        ],
    }
    if title is not None:
        manifest["title"] = title
    return manifest


def sign_image(
    data: bytes,
    *,
    credentials: SigningCredentials,
    model: str,
    policy_version: str,
    decision: Mapping[str, Any] | None = None,
    mime_type: str | None = None,
    title: str | None = None,
    thumbnail: bool = False,
) -> bytes:
    """Embed a signed C2PA manifest in an encoded image and return the new bytes.

    Parameters
    ----------
    data:
        JPEG, PNG or WebP bytes. The pixels are not re-encoded.
    credentials:
        Certificate chain and key (:class:`SigningCredentials`).
    model:
        The generating model, e.g. ``"stabilityai/sdxl-turbo@<revision>"``.
    policy_version:
        ``Policy.version`` of the guard policy that let the image through.
    decision:
        A guard decision as a mapping (``Decision.to_dict()``); only ``action``, ``categories``
        and the number of ``attempts`` are recorded.
    mime_type:
        ``"image/jpeg"``, ``"image/png"`` or ``"image/webp"``; sniffed from the bytes when ``None``.
    title:
        Optional manifest title (e.g. a file name).
    thumbnail:
        Let c2pa embed a thumbnail in the manifest (large: a full JPEG thumbnail per image).

    Returns
    -------
    bytes
        The signed image.

    Raises
    ------
    ConfigError
        The credentials were refused (wrong key for the certificate, unsupported algorithm...).
    InputDataError
        The bytes are not a JPEG/PNG/WebP c2pa can write into.
    MissingDependencyError
        c2pa-python is not installed (``fairframe[provenance]``).
    """
    mime = _mime(data, mime_type)
    manifest = build_manifest(
        model=model, policy_version=policy_version, decision=decision, title=title
    )
    c2pa = _c2pa()
    alg = getattr(c2pa.C2paSigningAlg, credentials.algorithm.upper())
    tsa = credentials.tsa_url.encode() if credentials.tsa_url else None
    try:
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(alg, credentials.cert_chain_pem, credentials.private_key_pem, tsa)
        )
    except c2pa.C2paError as exc:
        raise ConfigError(
            f"c2pa refused the signing credentials ({exc}); check that the key matches the first "
            f"certificate and the algorithm {credentials.algorithm!r} matches the key type"
        ) from exc
    settings = c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": bool(thumbnail)}}})
    dest = io.BytesIO()
    try:
        with c2pa.Context(settings=settings) as ctx, c2pa.Builder(manifest, context=ctx) as builder:
            builder.sign(signer, mime, io.BytesIO(data), dest)
    except c2pa.C2paError as exc:
        text = str(exc)
        if any(m in text for m in _UNREADABLE_MESSAGES) or text.startswith(("Io", "Decoding")):
            raise InputDataError(
                f"c2pa cannot write a manifest into this {mime} data ({text}); "
                "the file is truncated or not a valid image"
            ) from exc
        raise ConfigError(
            f"C2PA signing failed ({text}); check the certificate chain (end-entity first, "
            "signed by a CA, digitalSignature key usage) and the private key"
        ) from exc
    finally:
        signer.close()
    return dest.getvalue()


# ----------------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class C2PAReport:
    """What :func:`verify_credentials` found.

    Attributes
    ----------
    state:
        ``"valid"``, ``"untrusted"``, ``"tampered"``, ``"absent"`` or ``"error"`` (see the module
        docstring for each).
    trusted:
        ``True`` only for ``"valid"``: intact and signed by a certificate that chains to a given
        trust anchor.
    manifest:
        The active manifest as c2pa reports it (JSON-able), or ``None``.
    fairframe:
        The data of fairframe's own assertion (:data:`ASSERTION_LABEL`) if the manifest has one.
    generator:
        Who made the asset: the ``softwareAgent`` of the ``c2pa.created`` action as
        ``"name/version"``, else the claim generator, else ``None``.
    failures:
        C2PA validation failure codes, e.g. ``"assertion.dataHash.mismatch"``,
        ``"signingCredential.untrusted"``; ``"manifest.unreadable"`` when c2pa could not parse a
        manifest that is there.
    detail:
        One line for people: why the state is what it is.
    """

    state: C2PAState
    trusted: bool = False
    manifest: Mapping[str, Any] | None = None
    fairframe: Mapping[str, Any] | None = None
    generator: str | None = None
    failures: tuple[str, ...] = ()
    detail: str = ""

    def __post_init__(self) -> None:
        if self.state not in ("valid", "untrusted", "tampered", "absent", "error"):
            raise ValueError(f"unknown C2PA state {self.state!r}")
        if self.trusted != (self.state == "valid"):
            raise ValueError("trusted must be True exactly when state is 'valid'")
        object.__setattr__(self, "failures", tuple(str(f) for f in self.failures))
        if self.manifest is not None:
            object.__setattr__(self, "manifest", MappingProxyType(dict(self.manifest)))
        if self.fairframe is not None:
            object.__setattr__(self, "fairframe", MappingProxyType(dict(self.fairframe)))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict with every field (the manifest as c2pa reported it)."""
        return {
            "state": self.state,
            "trusted": self.trusted,
            "generator": self.generator,
            "failures": list(self.failures),
            "fairframe": None if self.fairframe is None else dict(self.fairframe),
            "manifest": None if self.manifest is None else dict(self.manifest),
            "detail": self.detail,
        }


def _codes(entries: Any) -> list[str]:
    if not isinstance(entries, list):
        return []
    return [str(e["code"]) for e in entries if isinstance(e, dict) and "code" in e]


def _generator(manifest: Mapping[str, Any]) -> str | None:
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            agent = action.get("softwareAgent")
            if action.get("action") == "c2pa.created" and agent:
                if isinstance(agent, dict):
                    name, version = agent.get("name"), agent.get("version")
                    return f"{name}/{version}" if version else str(name)
                return str(agent)
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        version = info[0].get("version")
        return f"{info[0]['name']}/{version}" if version else str(info[0]["name"])
    gen = manifest.get("claim_generator")
    return str(gen) if gen else None


def _ours(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    for assertion in manifest.get("assertions") or []:
        if assertion.get("label") == ASSERTION_LABEL and isinstance(assertion.get("data"), dict):
            return dict(assertion["data"])
    return None


def verify_credentials(
    data: bytes,
    *,
    trust_anchors_pem: bytes | None = None,
    mime_type: str | None = None,
) -> C2PAReport:
    """Read and validate the C2PA manifest embedded in an image.

    Parameters
    ----------
    data:
        The encoded image (JPEG, PNG or WebP).
    trust_anchors_pem:
        PEM root (or intermediate) certificates to trust. Without them an intact manifest is
        ``"untrusted"`` at best: fairframe ships no trust list.
    mime_type:
        Sniffed from the bytes when ``None``.

    Returns
    -------
    C2PAReport
        Never raises for bad image bytes: those give ``state="error"``.

    Raises
    ------
    ConfigError
        ``trust_anchors_pem`` is not PEM, or ``mime_type`` is unsupported.
    MissingDependencyError
        c2pa-python is not installed (``fairframe[provenance]``).
    """
    if trust_anchors_pem is not None:
        _check_pem(trust_anchors_pem, "trust_anchors_pem", b"-----BEGIN CERTIFICATE-----", "memory")
    try:
        mime = _mime(data, mime_type)
    except InputDataError as exc:
        return C2PAReport(state="error", detail=str(exc))
    c2pa = _c2pa()
    config: dict[str, Any] = {"verify": {"verify_trust": True}}
    if trust_anchors_pem is not None:
        config["trust"] = {"trust_anchors": bytes(trust_anchors_pem).decode("ascii", "replace")}
    try:
        with (
            c2pa.Context(settings=c2pa.Settings.from_dict(config)) as ctx,
            c2pa.Reader(mime, io.BytesIO(data), context=ctx) as reader,
        ):
            store = json.loads(reader.json())
            vstate = str(reader.get_validation_state() or "")
    except c2pa.C2paError as exc:
        text = str(exc)
        if text.startswith("ManifestNotFound"):
            return C2PAReport(state="absent", detail="no C2PA manifest in the image")
        if any(m in text for m in _UNREADABLE_MESSAGES):
            return C2PAReport(state="error", detail=f"c2pa cannot parse this {mime} data: {text}")
        return C2PAReport(
            state="tampered",
            failures=("manifest.unreadable",),
            detail=f"a C2PA manifest is present but cannot be validated: {text}",
        )

    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label) if label else None
    if not isinstance(manifest, dict):
        return C2PAReport(
            state="tampered",
            failures=("claim.missing",),
            detail="the manifest store has no active manifest",
        )
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = list(
        dict.fromkeys(_codes(store.get("validation_status")) + _codes(results.get("failure")))
    )
    integrity = [f for f in failures if not f.startswith("signingCredential.")]
    ours = _ours(manifest)
    generator = _generator(manifest)
    found = tuple(failures)

    def report(state: C2PAState, detail: str) -> C2PAReport:
        return C2PAReport(
            state=state,
            trusted=state == "valid",
            manifest=manifest,
            fairframe=ours,
            generator=generator,
            failures=found,
            detail=detail,
        )

    if integrity or (vstate == "Invalid" and not failures):
        shown = ", ".join(integrity) or "c2pa reported the manifest invalid"
        return report("tampered", f"integrity check failed: {shown}")
    if vstate == "Trusted":
        return report("valid", "intact and signed by a trusted certificate")
    why = "no trust anchors given" if trust_anchors_pem is None else "signer not in trust anchors"
    if failures:
        why += f" ({', '.join(failures)})"
    return report("untrusted", f"intact but untrusted: {why}")
