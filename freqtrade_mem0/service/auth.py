"""Authentication and authorisation of the service's requests, in one dependency.

`authorize` runs before every route but `/health`: it finds the route's permission in
`ROUTE_PERMISSIONS` (a route without a rule is refused: default deny), authenticates the
request, and checks the principal's role and strategy scope. Routes get the principal through
`PrincipalDep`; the memory they get (`MemoryDep`) is already limited to its strategies.

Credentials: an API key in `X-API-Key` or `Authorization: Bearer`, or a JWT in
`Authorization: Bearer`. freqtrade's webhook cannot send headers, so `POST /webhook/freqtrade`
also takes the key as `?api_key=` (the service's access log hides it).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from freqtrade_mem0.errors import AuthenticationError, ConfigError, PermissionDeniedError
from freqtrade_mem0.security.keys import KeyFile, looks_like_key
from freqtrade_mem0.security.principal import ANONYMOUS, ROUTE_PERMISSIONS, Principal
from freqtrade_mem0.security.tokens import TokenVerifier, read_key_file
from freqtrade_mem0.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

QUERY_KEY_ROUTES = frozenset({("POST", "/webhook/freqtrade")})
QUERY_KEY = "api_key"
NO_CREDENTIALS = (
    "credentials required: send an API key as X-API-Key or Authorization: Bearer, "
    "or a JWT as Authorization: Bearer"
)


@dataclass(frozen=True)
class Authenticator:
    """Turns a request's credentials into a principal.

    Attributes:
        keys: the API keys file.
        tokens: the JWT verifier; None when tokens are not accepted.
        enabled: False only with `insecure_no_auth` (every caller is an unlimited admin).
    """

    keys: KeyFile
    tokens: TokenVerifier | None
    enabled: bool = True

    def authenticate(self, request: Request, query_key: bool = False) -> Principal:
        """The caller.

        Raises:
            AuthenticationError: no credentials, or credentials that do not verify.
        """
        if not self.enabled:
            return ANONYMOUS
        header_key = request.headers.get("x-api-key")
        authorization = request.headers.get("authorization")
        bearer = None
        key_scheme = False
        if authorization is not None:
            scheme, _, value = authorization.partition(" ")
            # `Token <key>` is how Mem0's MemoryClient sends its API key; it carries keys only.
            if scheme.lower() not in ("bearer", "token") or not value.strip():
                raise AuthenticationError(
                    "the Authorization header must be 'Bearer <credential>' (or 'Token <API key>')"
                )
            bearer = value.strip()
            key_scheme = scheme.lower() == "token"
        if header_key is not None and bearer is not None:
            raise AuthenticationError("send one credential, not both X-API-Key and Authorization")
        credential = header_key if header_key is not None else bearer
        if credential is None and query_key:
            credential = request.query_params.get(QUERY_KEY)
        if not credential:
            raise AuthenticationError(NO_CREDENTIALS)
        if header_key is not None or key_scheme or looks_like_key(credential):
            return self.keys.authenticate(credential)
        if self.tokens is None:
            raise AuthenticationError("bearer tokens (JWT) are not enabled on this service")
        return self.tokens.verify(credential)


def is_loopback(host: str) -> bool:
    """Whether a listening address is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_authenticator(settings: ServiceSettings) -> Authenticator:
    """The authenticator the settings describe; refuses a service nobody could be refused by.

    Raises:
        ConfigError: no credentials configured without `insecure_no_auth`, or
            `insecure_no_auth` on an address other machines can reach.
    """
    keys = KeyFile(settings.keys_file)
    if settings.insecure_no_auth:
        if not is_loopback(settings.host):
            raise ConfigError(
                f"--insecure-no-auth serves only a loopback address (127.0.0.1, ::1), "
                f"not {settings.host}: configure API keys or JWT to listen there"
            )
        logger.warning("authentication is DISABLED (--insecure-no-auth): anyone here is admin")
        return Authenticator(keys, None, enabled=False)
    tokens = token_verifier(settings)
    if tokens is None and not any(entry.active for entry in keys.entries()):
        raise ConfigError(
            f"no credentials are configured: create an API key with `freqtrade-mem0 keys "
            f"create --role admin` (keys file {settings.keys_file}), or set jwt_secret or "
            "jwt_public_key_file; --insecure-no-auth serves without (loopback only)"
        )
    return Authenticator(keys, tokens)


def token_verifier(settings: ServiceSettings) -> TokenVerifier | None:
    """The JWT verifier the settings describe; None when JWT is not configured."""
    if settings.jwt_algorithm == "RS256":
        if settings.jwt_public_key_file is None:
            return None
        key = read_key_file(settings.jwt_public_key_file, "JWT public key")
    elif settings.jwt_secret is None:
        return None
    else:
        key = settings.jwt_secret.get_secret_value()
    return TokenVerifier(
        algorithm=settings.jwt_algorithm,
        key=key,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        leeway_seconds=settings.jwt_leeway_seconds,
    )


async def authorize(request: Request) -> Principal:
    """The principal of a request allowed on its route (a coroutine: no thread-pool hop).

    Raises:
        AuthenticationError: 401.
        PermissionDeniedError: 403, also for a route without a rule.
    """
    route = request.scope.get("route")
    key = (request.method, str(getattr(route, "path", "")))
    if key not in ROUTE_PERMISSIONS:
        raise PermissionDeniedError(f"no access rule for {key[0]} {key[1]}: refused by default")
    authenticator: Authenticator = request.app.state.mem0_auth
    principal = authenticator.authenticate(request, query_key=key in QUERY_KEY_ROUTES)
    permission = ROUTE_PERMISSIONS[key]
    if permission is not None:
        principal.require(permission)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(authorize)]
