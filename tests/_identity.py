"""Test identities: a CI OIDC issuer (Ed25519 JWKS file + signed JWTs, offline) and login tokens.

The whole test session runs as a CI job whose OIDC token names the human ``ci-engineer``
(:func:`install_session_identity`, called from conftest): gate runs are then submitted by an
authenticated person, as in a real CI pipeline. Tests of the service identity drop the token.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

ISSUER = "https://token.actions.githubusercontent.com"
AUDIENCE = "affectgate"
SESSION_ACTOR = "ci-engineer"
ENV_KEYS = ("AFFECTGATE_OIDC_TOKEN", "AFFECTGATE_OIDC_JWKS_FILE")


def make_issuer(folder: Path, *, kid: str = "test-key-1"):  # noqa: ANN201 - an Ed25519 private key
    """A fresh Ed25519 key pair; the public half written as a JWKS file ``folder/jwks.json``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from jwt.algorithms import OKPAlgorithm

    key = Ed25519PrivateKey.generate()
    jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": "EdDSA"})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jwks.json").write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    return key


def oidc_token(
    key, *, actor: str | None = SESSION_ACTOR, kid: str = "test-key-1", ttl_s: int = 86_400, **claims
) -> str:  # noqa: ANN001
    """A GitHub-Actions-shaped ID token signed with ``key`` (``actor`` None: a token with no person)."""
    import jwt

    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "repo:acme/emotion-models:ref:refs/heads/main",
        "repository": "acme/emotion-models",
        "workflow": "release-gate",
        "run_id": "4242",
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        **({"actor": actor} if actor else {}),
        **claims,
    }
    return jwt.encode(body, key, algorithm="EdDSA", headers={"kid": kid})


def install_session_identity() -> None:
    """Set the session's CI identity (token + issuer keys) in the environment, once per process."""
    if os.environ.get("AFFECTGATE_OIDC_TOKEN"):
        return
    folder = Path(tempfile.mkdtemp(prefix="affectgate-oidc-"))
    key = make_issuer(folder)
    os.environ["AFFECTGATE_OIDC_JWKS_FILE"] = str(folder / "jwks.json")
    os.environ["AFFECTGATE_OIDC_TOKEN"] = oidc_token(key)
