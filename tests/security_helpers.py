"""What the security tests share: credentials of every kind, certificates made on the spot."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from freqtrade_mem0.security.keys import KeyFile
from freqtrade_mem0.security.tokens import AUDIENCE, issue_token

SECRET = secrets.token_urlsafe(48)  # the HS256 secret of the test services
LIMITED_TO = "MyStrategy"


@dataclass(frozen=True)
class Credentials:
    """API keys of each role, one limited to `LIMITED_TO`, and tokens."""

    keys: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        """Headers that authenticate as `who` (a key name, `jwt-<role>` or a bad token)."""
        if who in self.keys:
            return {"X-API-Key": self.keys[who]}
        if who == "anonymous":
            return {}
        return {"Authorization": f"Bearer {TOKENS[who]()}"}


def make_keys(path: Path) -> Credentials:
    """A keys file with a reader, a writer, an admin, limited ones and a revoked one."""
    keys = KeyFile(path)
    made = {}
    for name, role, strategies in [
        ("reader", "reader", None),
        ("writer", "writer", None),
        ("admin", "admin", None),
        ("limited-reader", "reader", [LIMITED_TO]),
        ("limited-writer", "writer", [LIMITED_TO]),
        ("limited-admin", "admin", [LIMITED_TO]),
        ("revoked", "admin", None),
    ]:
        entry, made[name] = keys.create(name, role, strategies)
        if name == "revoked":
            keys.revoke(entry.id)
    return Credentials(made)


def token(role: str = "admin", secret: str = SECRET, **claims: Any) -> str:
    """An HS256 token for the test services; `claims` override or add claims."""
    now = int(time.time())
    body: dict[str, Any] = {
        "sub": "tests",
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "aud": AUDIENCE,
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return str(jwt.encode(body, secret, algorithm="HS256"))


def unsigned(role: str = "admin") -> str:
    """A token with `alg: none` and no signature."""
    return str(
        jwt.encode(
            {"sub": "x", "role": role, "exp": int(time.time()) + 600, "aud": AUDIENCE},
            None,
            algorithm="none",
        )
    )


# Tokens a service must refuse (401), and good ones; made when used (their times are now).
TOKENS = {
    "jwt-reader": lambda: token("reader"),
    "jwt-admin": lambda: issue_token(
        key=SECRET, algorithm="HS256", role="admin", subject="t", expires_in_seconds=600
    ),
    "jwt-expired": lambda: token(exp=int(time.time()) - 120),
    "jwt-not-yet-valid": lambda: token(nbf=int(time.time()) + 300),
    "jwt-issued-in-the-future": lambda: token(iat=int(time.time()) + 300),
    "jwt-wrong-key": lambda: token(secret=secrets.token_urlsafe(48)),
    "jwt-alg-none": unsigned,
    "jwt-no-exp": lambda: token(exp=None),
    "jwt-bad-role": lambda: token("root"),
    "jwt-other-audience": lambda: token(aud="someone-else"),
}
BAD_TOKENS = [name for name in TOKENS if name not in ("jwt-reader", "jwt-admin")]


def rsa_keys(folder: Path) -> tuple[Path, Path]:
    """An RSA key pair as PEM files: (private, public)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_path, public_path = folder / "jwt-private.pem", folder / "jwt-public.pem"
    private_path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


def tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate it signed for 127.0.0.1 and localhost: (ca, cert, key) PEMs."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "freqtrade-mem0 test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths
