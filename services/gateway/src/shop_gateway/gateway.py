"""What both adapters (HTTP and gRPC) share at the edge: authentication, rate limits, client facts."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from shop_gateway.app.companies import BuyingContexts
from shop_gateway.app.shop import Shop
from shop_gateway.backends import Backends
from shop_gateway.machine_clients import ClientRegistry
from shop_gateway.principal import ANONYMOUS, ClientInfo, Principal, guest, parse_ip
from shop_gateway.ratelimit import RateLimiter, TokenBuckets
from shop_gateway.settings import GatewaySettings
from shop_gateway.tokens import DevIssuer, KeySource, RemoteJwks, TokenVerifier, invalid_token

MAX_DEVICE_ID = 128


@dataclass
class Gateway:
    settings: GatewaySettings
    shop: Shop
    verifier: TokenVerifier
    limiter: RateLimiter
    issuer: DevIssuer | None  # dev mode only
    http: httpx.AsyncClient  # JWKS fetches
    draining: bool = field(default=False)
    clients: ClientRegistry | None = None  # dev mode: the integration clients the issuer serves
    contexts: BuyingContexts = field(init=False)  # B2B callers' company facts

    def __post_init__(self) -> None:
        self.contexts = BuyingContexts(self.shop.backends, self.settings.company_context_cache_seconds)

    @classmethod
    def create(cls, settings: GatewaySettings, backends: Backends) -> Gateway:
        http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)
        issuer = DevIssuer(settings) if settings.dev_mode else None
        keys: KeySource
        if issuer is not None:
            keys = issuer.key_source()
        elif settings.jwks_url:
            keys = RemoteJwks(settings.jwks_url, http, settings.jwks_cache_seconds, settings.jwks_min_refresh_seconds)
        else:
            raise ValueError("JWKS_URL is required unless GATEWAY_DEV_MODE=true")
        limiter = RateLimiter(
            subjects=TokenBuckets(
                settings.rate_limit_per_second, settings.rate_limit_burst, settings.rate_limit_max_clients
            ),
            addresses=TokenBuckets(
                settings.anonymous_rate_limit_per_second,
                settings.anonymous_rate_limit_burst,
                settings.rate_limit_max_clients,
            ),
            enabled=settings.rate_limit_enabled,
        )
        clients = ClientRegistry(backends.integration_clients, settings.machine_client_cache_seconds)
        shop = Shop(backends, settings)
        verifier = TokenVerifier(keys, settings)
        return cls(settings, shop, verifier, limiter, issuer, http, clients=clients if issuer else None)

    async def authenticate(self, authorization: str | None) -> Principal:
        """The caller of an `Authorization` header value; anonymous without one. A B2B caller's
        facts come from their company (403 when they are not a member of the token's account)."""
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise invalid_token("the Authorization header must be `Bearer <token>`", "INVALID_AUTHORIZATION_HEADER")
        return await self.contexts.fill(await self.verifier.verify(token.strip()))

    async def admit(self, authorization: str | None, client: ClientInfo, cart_token: str | None = None) -> Principal:
        """Authenticate, then take from the client's rate-limit bucket (by subject, else by IP).
        A request whose token fails for any reason is charged to the IP: no free guessing. Without a
        token, a cart token makes the caller the guest of that cart (a token wins over it)."""
        try:
            who = await self.authenticate(authorization)
            if who.client_id and self.clients is not None:
                await self.clients.check_active(who.client_id)  # a revoked client's tokens end at once
        except Exception:
            self.limiter.check("", client.ip)
            raise
        self.limiter.check(who.subject, client.ip)
        if cart_token and not who.authenticated:
            return guest(cart_token)
        return who

    def client_ip(self, peer_ip: str, forwarded_for: str | None) -> str:
        """The client's IP: behind `forwarded_hops` trusted proxies, from X-Forwarded-For.

        Each trusted proxy appends the address it saw, so the chain is read from the right, one
        entry per trusted hop. An entry that is not an IP address ends the walk: nothing left of it
        is trusted, and the last address read (else the peer's) is the client. A chain shorter than
        the hops did not pass every trusted proxy: the peer is the client."""
        address = parse_ip(peer_ip) or peer_ip
        hops = self.settings.forwarded_hops
        if not hops or not forwarded_for:
            return address
        chain = forwarded_for.split(",")
        if len(chain) < hops:
            return address
        for entry in reversed(chain[-hops:]):
            found = parse_ip(entry)
            if found is None:
                break
            address = found
        return address

    def client_info(
        self, peer_ip: str, forwarded_for: str | None, country: str | None, device_id: str | None
    ) -> ClientInfo:
        country = (country or "").strip().upper()
        return ClientInfo(
            ip=self.client_ip(peer_ip, forwarded_for),
            ip_country=country if len(country) == 2 and country.isalpha() else "",
            device_id=(device_id or "").strip()[:MAX_DEVICE_ID],
        )

    async def close(self) -> None:
        await self.http.aclose()
        await self.shop.backends.close()
