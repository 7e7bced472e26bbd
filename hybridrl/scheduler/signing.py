"""Optional Ed25519 signatures binding ``policy.json`` and ``policy.onnx`` to their exporter.

The hashes inside ``policy.json`` catch accidents (a truncated copy, a file from another
export), not forgery: anyone who edits the files can recompute them. A signature can only be
made with the exporter's private key; a scheduler given the matching public key refuses
unsigned files and files changed after signing. What is signed: the exact bytes of both files
(their sha256, under a fixed prefix). What is not protected: the private key itself, the choice
of which public key to trust, and whether the signed policy is a good one.

Keys are standard PEM files, e.g. ``openssl genpkey -algorithm ed25519 -out export.key`` and
``openssl pkey -in export.key -pubout -out export.pub``, or :func:`generate_keypair`.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

SIGNATURE_FILE = "policy.sig"
_PREFIX = b"hybridrl policy signature v1\n"


class SignatureError(ValueError):
    """A signature is missing, malformed or does not verify, or a key cannot be read."""


def signed_message(json_bytes: bytes, onnx_bytes: bytes) -> bytes:
    """What is signed: a fixed prefix and the sha256 of each file's exact bytes."""
    return _PREFIX + hashlib.sha256(json_bytes).digest() + hashlib.sha256(onnx_bytes).digest()


def _load_key(path: str | Path, private: bool) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    try:
        data = Path(path).read_bytes()
        key: Any = (
            serialization.load_pem_private_key(data, password=None)
            if private
            else serialization.load_pem_public_key(data)
        )
    except (OSError, ValueError, TypeError) as err:
        kind = "private" if private else "public"
        raise SignatureError(f"{path}: not a readable PEM {kind} key ({err})") from None
    wanted = ed25519.Ed25519PrivateKey if private else ed25519.Ed25519PublicKey
    if not isinstance(key, wanted):
        raise SignatureError(f"{path}: not an Ed25519 key")
    return key


def sign_policy(directory: str | Path, private_key: str | Path) -> Path:
    """Write ``policy.sig`` (base64) for the two policy files in ``directory``."""
    from hybridrl.scheduler.runtime import JSON_FILE, ONNX_FILE

    d = Path(directory)
    key = _load_key(private_key, private=True)
    signature = key.sign(signed_message((d / JSON_FILE).read_bytes(), (d / ONNX_FILE).read_bytes()))
    out = d / SIGNATURE_FILE
    out.write_text(base64.b64encode(signature).decode() + "\n")
    return out


def verify_policy(directory: str | Path, public_key: str | Path) -> None:
    """Refuse (:class:`SignatureError`) unless ``policy.sig`` is a valid signature of both files
    by the holder of ``public_key``'s private key."""
    from cryptography.exceptions import InvalidSignature

    from hybridrl.scheduler.runtime import JSON_FILE, ONNX_FILE

    d = Path(directory)
    key = _load_key(public_key, private=False)
    sig_path = d / SIGNATURE_FILE
    if not sig_path.is_file():
        raise SignatureError(f"{d} is not signed ({SIGNATURE_FILE} is missing) and a public key was given")
    try:
        signature = base64.b64decode(sig_path.read_bytes().strip(), validate=True)
    except ValueError:
        raise SignatureError(f"{sig_path} is not base64") from None
    try:
        key.verify(signature, signed_message((d / JSON_FILE).read_bytes(), (d / ONNX_FILE).read_bytes()))
    except InvalidSignature:
        raise SignatureError(
            f"{sig_path} does not verify with {public_key}: the files were changed after signing, "
            "or signed with another key"
        ) from None


def generate_keypair(private_path: str | Path, public_path: str | Path) -> None:
    """A new Ed25519 key pair as PEM files (the private one unencrypted: keep it safe)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    Path(private_path).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    Path(public_path).write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
