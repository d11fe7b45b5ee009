"""Ed25519 signatures of the audit chain: key files, fingerprints, signing and checking (``cryptography``).

Every event line carries ``key_id`` and ``signature`` = Ed25519(private key, ``signed_message(seq, digest)``);
the head anchor carries the same for the last event. Anyone holding the *public* key can check both, so a
regulator verifies the log without a secret that would also let them forge it
(``affectgate audit verify --public-key FILE``).

Key files: the private key is PKCS#8 PEM (mode 0600); its public key is written beside it as
``<name>.pub.pem`` and copied to the ``keys/`` folder of the audit log under ``<key_id>.pub.pem``, so
that every key the log was ever signed with stays checkable after a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from affectgate.audit.chain import AuditError

#: Domain-separation prefix of every signed message (never reused for anything else).
_DOMAIN = b"affectgate.audit.v1\x00"


def signed_message(*, seq: int, digest: str) -> bytes:
    """The bytes an event's (or the head's) signature covers: its sequence number and digest."""
    return _DOMAIN + f"{seq}:{digest}".encode("ascii")


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)


def fingerprint(public: Ed25519PublicKey) -> str:
    """``SHA256:<hex>`` of the raw 32-byte public key (what an export prints and an officer compares)."""
    return "SHA256:" + hashlib.sha256(_raw(public)).hexdigest()


def key_id_of(public: Ed25519PublicKey) -> str:
    """The short key id written on every signed line: the first 16 hex digits of the fingerprint."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    """The public key as SubjectPublicKeyInfo PEM text."""
    return public.public_bytes(
        encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key_text(text: str, *, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text; AuditError naming ``where`` otherwise."""
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise AuditError(f"{where} is not a PEM public key: {exc}", fix="pass the .pub.pem file the gate wrote") from (
            None
        )
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"{where} is not an Ed25519 public key", fix="pass the audit signing key's .pub.pem file")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file; AuditError naming the file otherwise."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditError(f"cannot read public key {path}: {exc}", fix="pass the .pub.pem file the gate wrote") from None
    return load_public_key_text(text, where=str(path))


@dataclass(frozen=True)
class Signer:
    """A loaded private key that signs events and the head."""

    private: Ed25519PrivateKey
    path: Path | None = None

    @property
    def public(self) -> Ed25519PublicKey:
        """The matching public key."""
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        """Short id of the public key (on every signed line)."""
        return key_id_of(self.public)

    def sign(self, *, seq: int, digest: str) -> str:
        """Base64 Ed25519 signature of ``signed_message(seq, digest)``."""
        return base64.b64encode(self.private.sign(signed_message(seq=seq, digest=digest))).decode("ascii")


class KeyRing:
    """Public keys trusted to have signed the log, by key id."""

    def __init__(self, keys: Iterable[Ed25519PublicKey] = ()) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: Ed25519PublicKey) -> str:
        """Trust ``key``; returns its key id."""
        kid = key_id_of(key)
        self._keys[kid] = key
        return kid

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def ids(self) -> tuple[str, ...]:
        """Trusted key ids, sorted."""
        return tuple(sorted(self._keys))

    def fingerprint_of(self, key_id: str | None) -> str | None:
        """The ``SHA256:`` fingerprint of a trusted key by id (None: not trusted here)."""
        key = self._keys.get(key_id or "")
        return None if key is None else fingerprint(key)

    def fingerprints(self) -> tuple[str, ...]:
        """``SHA256:`` fingerprints of the trusted keys, sorted."""
        return tuple(sorted(fingerprint(k) for k in self._keys.values()))

    def check(self, *, key_id: str | None, signature: str | None, seq: int, digest: str) -> str | None:
        """None when ``signature`` is a valid signature of (seq, digest) by trusted ``key_id``; else why not."""
        if not signature or not key_id:
            return "not signed"
        key = self._keys.get(key_id)
        if key is None:
            return f"signed by key {key_id}, which is not a trusted key"
        try:
            key.verify(base64.b64decode(signature, validate=True), signed_message(seq=seq, digest=digest))
        except (InvalidSignature, ValueError):
            return f"signature by key {key_id} does not verify"
        return None


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def public_path_of(private_path: Path) -> Path:
    """Where the public key of ``private_path`` is written: ``<stem>.pub.pem`` beside it."""
    return private_path.with_name(private_path.stem + ".pub.pem")


def publish_public_key(*, public: Ed25519PublicKey, private_path: Path | None, keys_dir: Path) -> Path:
    """Write the public key beside the private key and into ``keys_dir/<key_id>.pub.pem``; returns the latter."""
    text = public_pem(public)
    targets = [keys_dir / f"{key_id_of(public)}.pub.pem"]
    if private_path is not None:
        targets.append(public_path_of(private_path))
    for target in targets:
        if not target.is_file() or target.read_text(encoding="ascii") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
            tmp.write_text(text, encoding="ascii")
            os.replace(tmp, target)
    return targets[0]


def load_or_create_signer(*, path: Path, keys_dir: Path, create: bool = True) -> Signer | None:
    """The private key at ``path``; generated (0600) and its public key published when missing and ``create``."""
    if not path.is_file():
        if not create:
            return None
        lock = path.with_name(path.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        import fcntl

        with lock.open("a") as fh:  # two first gates at once must not make two keys
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            if not path.is_file():
                _write_private(path, Ed25519PrivateKey.generate())
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise AuditError(
            f"audit signing key {path} cannot be read: {exc}",
            fix="restore the key file, or point AFFECTGATE_AUDIT_SIGNING_KEY at the right one",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditError(f"audit signing key {path} is not an Ed25519 key", fix="use a key made by affectgate")
    signer = Signer(private=key, path=path)
    publish_public_key(public=signer.public, private_path=path, keys_dir=keys_dir)
    return signer


def new_signer() -> Signer:
    """A freshly generated key, in memory only (:func:`install_signer` writes it)."""
    return Signer(private=Ed25519PrivateKey.generate())


def install_signer(*, path: Path, keys_dir: Path, new: Signer, old: Signer | None) -> Signer:
    """Write ``new`` to ``path`` (the old key kept beside it as ``<stem>.<old key id>.retired.pem``) and publish it."""
    if old is not None and path.is_file():
        os.replace(path, path.with_name(f"{path.stem}.{old.key_id}.retired.pem"))  # 0600, until destroyed
    _write_private(path, new.private)
    publish_public_key(public=new.public, private_path=path, keys_dir=keys_dir)
    return Signer(private=new.private, path=path)


def workspace_ring(keys_dir: Path) -> KeyRing:
    """Every public key in ``keys_dir`` (the keys this log was ever signed with, as the workspace knows them)."""
    ring = KeyRing()
    if keys_dir.is_dir():
        for file in sorted(keys_dir.glob("*.pub.pem")):
            ring.add(load_public_key(file))
    return ring
