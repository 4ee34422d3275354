"""``fairframe provenance``: keyed invisible watermarks and C2PA content credentials.

``keygen`` makes a watermark key, ``embed`` marks (and optionally signs) an image, ``verify``
reports what an image carries: our keyed watermark, the public SDXL watermark and C2PA
credentials. ``sign`` adds a C2PA manifest alone; ``test-certs`` writes a throwaway certificate
chain for trying signing out (never for production: keep real keys in a KMS or HSM).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from fairframe.cli._common import (
    err_console,
    handle_errors,
    out_console,
    print_json,
    read_input_file,
)
from fairframe.errors import InputDataError

__all__ = ["provenance_app"]

provenance_app = typer.Typer(
    name="provenance",
    help="Invisible watermarks and C2PA content credentials for generated images.",
    no_args_is_help=True,
)

_KEY = typer.Option(..., "--key-file", "-k", help="Watermark key file (fairframe provenance "
                    "keygen).")
_JSON = typer.Option(False, "--json", help="Print JSON instead of text.")
_CHAIN = typer.Option(None, "--cert-chain", help="C2PA signer chain (PEM: signer first).")
_PKEY = typer.Option(None, "--private-key", help="C2PA signer private key (PEM).")
_ALG = typer.Option("es256", "--algorithm", help="C2PA signing algorithm (es256, ps256, ...).")
_MODEL = typer.Option("unknown", "--model", help="Model recorded in the C2PA manifest.")
_POLICY = typer.Option("none", "--policy-version", help="Policy version recorded in the manifest.")

#: Output formats by file suffix.
_FORMATS = {".png": ("PNG", "image/png"), ".jpg": ("JPEG", "image/jpeg"),
            ".jpeg": ("JPEG", "image/jpeg"), ".webp": ("WEBP", "image/webp")}


def _encode(image: Any, path: Path, quality: int) -> tuple[bytes, str]:
    """Encode ``image`` in the format ``path``'s suffix names."""
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputDataError(
            f"cannot tell the image format of {path} from its suffix; use one of "
            f"{', '.join(sorted(_FORMATS))}"
        )
    buf = io.BytesIO()
    if fmt[0] == "PNG":
        image.save(buf, format="PNG")
    else:
        image.save(buf, format=fmt[0], quality=quality)
    return buf.getvalue(), fmt[1]


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        raise InputDataError(f"cannot write {path}: {exc.strerror}") from exc


def _credentials(chain: Path | None, key: Path | None, algorithm: str) -> Any:
    if chain is None and key is None:
        return None
    if chain is None or key is None:
        raise InputDataError("C2PA signing needs both --cert-chain and --private-key")
    from fairframe.provenance.c2pa import SigningCredentials

    return SigningCredentials.from_files(chain, key, algorithm=algorithm)


@provenance_app.command("keygen")
@handle_errors
def keygen_command(
    key_file: Path = typer.Argument(..., help="Where to write the new key (mode 0600)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing key file."),
) -> None:
    """Create a random watermark key. Keep it secret: whoever has it can read and forge marks."""
    from fairframe.provenance.watermark import generate_key, save_key

    if key_file.exists() and not force:
        raise InputDataError(
            f"{key_file} already exists; pass --force to replace it (images marked with the old "
            "key can then no longer be verified)"
        )
    save_key(generate_key(), key_file)
    typer.echo(f"wrote watermark key {key_file}")


@provenance_app.command("embed")
@handle_errors
def embed_command(
    src: Path = typer.Argument(..., help="The image to mark."),
    dst: Path = typer.Argument(..., help="Output image (.png, .jpg or .webp)."),
    key_file: Path = _KEY,
    payload: str | None = typer.Option(
        None, "--payload", help="Payload as hex (default: the first bytes of the image's "
        "SHA-256)."),
    quality: int = typer.Option(95, "--quality", min=1, max=100, help="JPEG/WebP quality."),
    cert_chain: Path | None = _CHAIN,
    private_key: Path | None = _PKEY,
    algorithm: str = _ALG,
    model: str = _MODEL,
    policy_version: str = _POLICY,
    as_json: bool = _JSON,
) -> None:
    """Embed the keyed invisible watermark (and sign with C2PA when a chain and key are given)."""
    import hashlib

    from fairframe.images import load_image
    from fairframe.provenance.watermark import PAYLOAD_BYTES, KeyedWatermark, load_key

    _not_in_place(src, dst)
    raw = read_input_file(src, "image")
    wm = KeyedWatermark(key=load_key(key_file))
    if payload is None:
        data = hashlib.sha256(raw).digest()[:PAYLOAD_BYTES]
    else:
        try:
            data = bytes.fromhex(payload)
        except ValueError as exc:
            raise InputDataError(f"--payload {payload!r} is not hex, e.g. 'a1b2c3d4'") from exc
        if len(data) != PAYLOAD_BYTES:
            raise InputDataError(
                f"--payload must be {PAYLOAD_BYTES} bytes ({2 * PAYLOAD_BYTES} hex digits), got "
                f"{len(data)}"
            )
    marked = wm.embed(load_image(raw, str(src)), data)
    encoded, mime = _encode(marked, dst, quality)
    # read the mark back from the encoded file, as a verifier will see it
    check = wm.verify(load_image(encoded, str(dst)))
    verified = bool(check.detected and check.payload == data)
    creds = _credentials(cert_chain, private_key, algorithm)
    if creds is not None:
        from fairframe.provenance.c2pa import sign_image

        encoded = sign_image(encoded, credentials=creds, model=model,
                             policy_version=policy_version, mime_type=mime)
    _write(dst, encoded)
    result = {"output": str(dst), "payload": data.hex(), "verified": verified,
              "c2pa_signed": creds is not None}
    if as_json:
        print_json(result)
    else:
        signed = " and signed it (C2PA)" if creds is not None else ""
        out_console.print(f"marked {escape(str(dst))} with payload {data.hex()}{signed}",
                          highlight=False)
    if not verified:
        err_console.print(
            "[yellow]warning:[/] the mark cannot be read back from the output (the image is "
            "small, flat or very busy, or the JPEG/WebP quality is low); see docs/provenance.md",
            highlight=False)


@provenance_app.command("verify")
@handle_errors
def verify_command(
    path: Path = typer.Argument(..., help="The image to check."),
    key_file: Path | None = typer.Option(
        None, "--key-file", "-k", help="Watermark key file; without it only the SDXL mark and "
        "C2PA are checked."),
    trust_anchors: Path | None = typer.Option(
        None, "--trust-anchors", help="PEM roots trusted for C2PA signers."),
    as_json: bool = _JSON,
) -> None:
    """Report the keyed watermark (payload, confidence), the SDXL watermark and C2PA state."""
    from fairframe.provenance.inspect import inspect_provenance

    verifier = None
    if key_file is not None:
        from fairframe.provenance.watermark import KeyedWatermark, load_key

        verifier = KeyedWatermark(key=load_key(key_file))
    anchors = (None if trust_anchors is None
               else read_input_file(trust_anchors, "trust anchors file"))
    report = inspect_provenance(read_input_file(path, "image"), watermark=verifier,
                                trust_anchors_pem=anchors)
    data = report.to_json()
    if as_json:
        print_json(data)
        return
    for line in report.summary:
        out_console.print(escape(line), highlight=False)


def _same_format(raw: bytes, src: Path, dst: Path) -> None:
    """Signing keeps the image's bytes: refuse an output name that promises another format."""
    from fairframe.provenance.c2pa import sniff_mime_type

    mime = sniff_mime_type(raw)
    if mime is None:  # sign_image names an unreadable image itself
        return
    if _FORMATS.get(dst.suffix.lower(), ("", ""))[1] != mime:
        suffix = next(k for k, (_, m) in _FORMATS.items() if m == mime)
        raise InputDataError(
            f"{src} is a {mime} image and signing does not re-encode it, but the output {dst} "
            f"ends in {dst.suffix or '(nothing)'}; name it {dst.with_suffix(suffix).name}")


def _not_in_place(src: Path, dst: Path) -> None:
    """Refuse to write the output over the input (its original pixels would be gone)."""
    if dst.exists() and dst.resolve() == src.resolve():
        raise InputDataError(f"the output {dst} is the input image; the original would be "
                             "overwritten; write the marked copy to another file")


@provenance_app.command("sign")
@handle_errors
def sign_command(
    src: Path = typer.Argument(..., help="The image to sign (JPEG, PNG or WebP)."),
    dst: Path = typer.Argument(..., help="Where to write the signed copy."),
    cert_chain: Path = typer.Option(..., "--cert-chain", help="Signer chain (PEM)."),
    private_key: Path = typer.Option(..., "--private-key", help="Signer private key (PEM)."),
    algorithm: str = _ALG,
    model: str = _MODEL,
    policy_version: str = _POLICY,
) -> None:
    """Add a C2PA manifest (model, policy version) to an image, without re-encoding it."""
    from fairframe.provenance.c2pa import sign_image

    _not_in_place(src, dst)
    raw = read_input_file(src, "image")
    _same_format(raw, src, dst)
    creds = _credentials(cert_chain, private_key, algorithm)
    _write(dst, sign_image(raw, credentials=creds, model=model, policy_version=policy_version))
    typer.echo(f"signed {dst}")


@provenance_app.command("test-certs")
@handle_errors
def test_certs_command(
    directory: Path = typer.Argument(..., help="Folder for root.pem, chain.pem and signer.key."),
) -> None:
    """Write a throwaway test CA and signer (for trying C2PA out; never for production)."""
    from fairframe.testing.certs import write_test_chain

    paths = write_test_chain(directory)
    print_json({k: str(v) for k, v in paths.items()} if isinstance(paths, dict) else
               [str(p) for p in paths])
