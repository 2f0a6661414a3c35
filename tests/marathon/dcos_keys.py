"""RSA key pairs for the DC/OS login tests (generated once per process; never committed)."""

from __future__ import annotations

import functools
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@functools.cache
def key_pair(name: str) -> tuple[bytes, bytes]:
    """(private PEM, public PEM) for `name`; distinct names give distinct keys."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def write_private_key(directory: Path, name: str) -> Path:
    path = directory / f"{name}.pem"
    path.write_bytes(key_pair(name)[0])
    path.chmod(0o600)
    return path


def write_public_key(directory: Path, name: str) -> Path:
    path = directory / f"{name}.pub.pem"
    path.write_bytes(key_pair(name)[1])
    return path
