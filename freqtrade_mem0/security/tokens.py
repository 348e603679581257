"""JWT bearer tokens: HS256 with a shared secret, or RS256 with a key pair.

The service accepts one algorithm, the configured one: a token whose header names another
(`none` above all, or HS256 signed with an RS256 public key as its "secret") is refused
before its signature is looked at. `exp` is required; `nbf` and `iat` are checked when
present; the clock skew tolerated is bounded (`MAX_LEEWAY_SECONDS`).

Claims: `sub` (who), `role` (reader, writer, admin), `strategies` (optional list), `exp`,
`iat`, `nbf`, `aud` (`freqtrade-mem0` unless configured), `iss` (when configured).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt

from freqtrade_mem0.errors import AuthenticationError, ConfigError
from freqtrade_mem0.security.principal import Principal, Role, check_strategies

Algorithm = Literal["HS256", "RS256"]
AUDIENCE = "freqtrade-mem0"
MAX_LEEWAY_SECONDS = 60
MIN_SECRET_BYTES = 32
MAX_TOKEN_CHARS = 8192
# Secrets that appear in examples and defaults everywhere; refused whatever their length.
WELL_KNOWN_SECRETS = frozenset(
    {
        "secret",
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "password",
        "jwt-secret",
        "jwt_secret",
        "super-secret",
        "supersecret",
        "your-256-bit-secret",
        "mysecret",
        "default",
        "test",
    }
)


def check_secret(secret: str) -> None:
    """Refuse an HS256 secret that is empty, well known or too short to resist guessing.

    Raises:
        ConfigError: saying how to make a good one.
    """
    how = "make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
    if not secret.strip():
        raise ConfigError(f"the JWT secret is empty; {how}")
    if secret.strip().lower() in WELL_KNOWN_SECRETS:
        raise ConfigError(f"the JWT secret is a well-known default; {how}")
    if len(secret.encode()) < MIN_SECRET_BYTES or len(set(secret)) < 8:
        raise ConfigError(
            f"the JWT secret is too weak (at least {MIN_SECRET_BYTES} random bytes); {how}"
        )


def read_key_file(path: str | Path, what: str) -> str:
    """A PEM key file's text.

    Raises:
        ConfigError: it cannot be read, or is not PEM.
    """
    try:
        text = Path(path).expanduser().read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    if "-----BEGIN" not in text:
        raise ConfigError(f"the {what} {path} is not a PEM file")
    return text


@dataclass(frozen=True)
class TokenVerifier:
    """Checks bearer tokens for the service.

    Args:
        algorithm: the one algorithm accepted.
        key: the HS256 secret, or the RS256 public key (PEM).
        audience: the `aud` a token must carry.
        issuer: the `iss` a token must carry; None: not checked.
        leeway_seconds: clock skew tolerated on `exp`, `nbf` and `iat` (at most 60).
    """

    algorithm: Algorithm
    key: str
    audience: str = AUDIENCE
    issuer: str | None = None
    leeway_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ConfigError(f"jwt_leeway_seconds must be 0 to {MAX_LEEWAY_SECONDS}")
        if self.algorithm == "HS256":
            check_secret(self.key)
        elif "PUBLIC KEY" not in self.key:
            raise ConfigError("RS256 needs the issuer's public key (PEM), not a private key")

    def verify(self, token: str) -> Principal:
        """The principal a token stands for.

        Raises:
            AuthenticationError: saying what is wrong with the token.
        """
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthenticationError("the bearer token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise AuthenticationError(f"malformed bearer token: {exc}") from None
        algorithm = str(header.get("alg", ""))
        if algorithm.lower() == "none":
            raise AuthenticationError("unsigned tokens (alg none) are refused")
        if algorithm != self.algorithm:
            raise AuthenticationError(
                f"token signed with {algorithm or 'no algorithm'}; this service accepts "
                f"{self.algorithm} only"
            )
        claims = self._decode(token)
        try:
            role = Role(str(claims.get("role")))
            strategies = check_strategies(claims.get("strategies"))
        except (ValueError, TypeError) as exc:
            raise AuthenticationError(f"token claims: {exc}") from None
        return Principal(f"jwt:{claims['sub']}", role, strategies, "jwt")

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "sub", "role"], "verify_iat": True},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError(
                "the token is not valid yet (nbf or iat in the future)"
            ) from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError(
                "the token's signature does not verify (another key?)"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(f"the token is not for {self.audience!r} (aud)") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError(f"the token was not issued by {self.issuer!r}") from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(f"invalid bearer token: {exc}") from None
        return claims


def issue_token(
    *,
    key: str,
    algorithm: Algorithm,
    role: Role | str,
    subject: str,
    expires_in_seconds: float,
    strategies: Sequence[str] | None = None,
    audience: str = AUDIENCE,
    issuer: str | None = None,
    now: float | None = None,
) -> str:
    """A signed token.

    Args:
        key: the HS256 secret, or the RS256 private key (PEM).
        algorithm: HS256 or RS256.
        role: reader, writer or admin.
        subject: who it is for (`sub`).
        expires_in_seconds: lifetime (`exp` - `iat`).
        strategies: the strategies it is limited to; None: all.
        audience: `aud`.
        issuer: `iss`, if any.
        now: the issue time (tests); default: now.

    Raises:
        ConfigError: a bad role, strategy, lifetime or key.
    """
    if algorithm == "HS256":
        check_secret(key)
    if expires_in_seconds <= 0:
        raise ConfigError("a token's lifetime must be positive")
    try:
        limited = check_strategies(strategies)
        claims: dict[str, Any] = {"sub": subject, "role": Role(role).value}
    except ValueError as exc:
        raise ConfigError(f"cannot issue the token: {exc}") from exc
    issued = int(now if now is not None else time.time())
    claims.update(
        iat=issued,
        nbf=issued,
        exp=issued + int(expires_in_seconds),
        aud=audience,
        jti=secrets.token_hex(8),
    )
    if limited is not None:
        claims["strategies"] = sorted(limited)
    if issuer:
        claims["iss"] = issuer
    try:
        return str(jwt.encode(claims, key, algorithm=algorithm))
    except (ValueError, TypeError, jwt.InvalidKeyError) as exc:
        raise ConfigError(f"cannot sign with this {algorithm} key: {exc}") from exc
