"""The egress policy: what the outbound requests a tenant's definition controls may reach.

Those requests are the HTTP tools declared in a definition's ``tools:`` and the builtin ``http``
tool (model providers and the worker's Python tools are the operator's, and trusted). Each goes
through a client whose network backend checks the *resolved* address of every connection before
it is made, and then connects to exactly the address it checked, so neither DNS rebinding nor a
name that points inside the network gets around the policy. Redirects are never followed (a 3xx
is the tool's answer), and no proxy from the environment is used for these requests.

Denied unless allowed: addresses that are not globally routable (loopback, link-local and cloud
metadata, private and shared ranges, unspecified, reserved, multicast, including IPv4 addresses
inside IPv6 forms), and the hosts of the Temporal server (``TEMPORAL_ADDRESS``) and of the
kworkflow API (``KWORKFLOW_URL``) whatever their addresses. The operator allows hosts
(``crm.internal``, ``*.corp.example``) or networks (``10.20.0.0/16``, ``127.0.0.1``) for every
tenant or per tenant in the worker configuration's ``egress:`` section, and for every tenant in
``KWORKFLOW_EGRESS_ALLOW`` (comma-separated). A denied request fails its step with a
non-retryable ``EgressDenied`` naming the host; nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_ENV = "KWORKFLOW_EGRESS_ALLOW"
"""Hosts or networks every tenant may reach, comma-separated (added to the configuration's)."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressDenied(Exception):
    """A connection the egress policy refuses; ``host`` is the name as the definition wrote it."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"egress to '{host}' is denied: {reason}")
        self.host = host
        self.reason = reason


@dataclass(frozen=True)
class Allowed:
    """One allow entry: a host name, a ``*.domain``, or a network; optionally one port."""

    host: str | None = None
    domain: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    @classmethod
    def parse(cls, raw: str) -> Allowed:
        """``crm.internal``, ``*.corp.example``, ``10.0.0.0/8``, ``[::1]:9000``, ``host:443``.

        Raises:
            ValueError: The entry is none of those.
        """
        entry = raw.strip().lower()
        try:
            return cls(network=ipaddress.ip_network(entry, strict=False))
        except ValueError:
            pass
        parts = urlsplit(f"//{entry}")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"egress allow entry {raw!r} has a bad port") from None
        name = parts.hostname or ""
        if not parts.path and not parts.query:
            with contextlib.suppress(ValueError):
                return cls(network=ipaddress.ip_network(name), port=port)
            if name.startswith("*.") and _is_host_name(name[2:]):
                return cls(domain="." + name[2:].rstrip("."), port=port)
            if _is_host_name(name):
                return cls(host=name.rstrip("."), port=port)
        raise ValueError(f"egress allow entry {raw!r} is not a host, *.domain, IP or CIDR")

    def covers_name(self, host: str, port: int) -> bool:
        """The entry allows ``host`` by name on ``port``."""
        if self.port is not None and self.port != port:
            return False
        name = host.lower().rstrip(".")
        return name == self.host or (self.domain is not None and name.endswith(self.domain))

    def covers_address(self, address: IPAddress, port: int) -> bool:
        """The entry allows ``address`` (or the IPv4 address inside it) on ``port``."""
        if self.network is None or (self.port is not None and self.port != port):
            return False
        inner = _embedded_ipv4(address)
        return any(
            a is not None and a.version == self.network.version and a in self.network
            for a in (address, inner)
        )


@dataclass(frozen=True)
class EgressPolicy:
    """What one tenant's requests may reach besides the public internet.

    Attributes:
        allowed: The operator's allow entries for this tenant.
        system_hosts: The Temporal server's and the API's hosts: denied by name and by address
            unless an entry with a port allows the very port asked for.
    """

    allowed: tuple[Allowed, ...] = ()
    system_hosts: tuple[str, ...] = ()

    @classmethod
    def build(cls, allow: Iterable[str], system_hosts: Iterable[str] = ()) -> EgressPolicy:
        """A policy from allow entries (see :meth:`Allowed.parse`).

        Raises:
            ValueError: An entry is not a host, domain, IP or CIDR.
        """
        entries = tuple(Allowed.parse(a) for a in allow if a.strip())
        return cls(entries, tuple(h.lower() for h in system_hosts if h))

    def problem(
        self,
        host: str,
        port: int,
        addresses: Sequence[IPAddress],
        system_addresses: Sequence[IPAddress] = (),
    ) -> str | None:
        """Why a connection to ``host:port`` (resolved to ``addresses``) is refused, or None."""
        by_name = [a for a in self.allowed if a.covers_name(host, port)]
        by_address = [
            a for a in self.allowed if any(a.covers_address(ip, port) for ip in addresses)
        ]
        named_port = any(a.port is not None for a in (*by_name, *by_address))
        is_system = host.lower().rstrip(".") in self.system_hosts or any(
            ip in system_addresses for ip in addresses
        )
        if is_system and not named_port:
            return (
                "it is the address of the Temporal server or of the kworkflow API "
                "(an operator may allow one port of it, as host:port)"
            )
        if by_name:
            return None
        for address in addresses:
            if any(a.covers_address(address, port) for a in self.allowed):
                continue
            for candidate in (_embedded_ipv4(address), address):
                if candidate is not None and (not candidate.is_global or candidate.is_multicast):
                    return f"{candidate} is not a public address ({_kind(candidate)})"
        return None


def policy_for(tenant: str | None) -> EgressPolicy:
    """The policy of ``tenant`` on this worker: the configuration's ``egress:`` section, the
    tenant's own entries and :data:`ALLOW_ENV`.

    Raises:
        activities.errors.ConfigError: An allow entry is not a host, domain, IP or CIDR.
    """
    from activities.config import current_config

    egress = current_config().egress
    allow = [*egress.allow, *egress.tenants.get(tenant or "", ())]
    allow += os.environ.get(ALLOW_ENV, "").split(",")
    return _policy(tuple(allow), _system_hosts())


@lru_cache(maxsize=256)
def _policy(allow: tuple[str, ...], denied: tuple[str, ...]) -> EgressPolicy:
    from activities.errors import ConfigError

    try:
        return EgressPolicy.build(allow, denied)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _system_hosts() -> tuple[str, ...]:
    """The hosts of the Temporal server and of the API, as this worker's environment names them."""
    hosts = []
    temporal = os.environ.get("TEMPORAL_ADDRESS") or ""
    if temporal:
        hosts.append(urlsplit(f"//{temporal}").hostname or "")
    api = os.environ.get("KWORKFLOW_URL") or ""
    if api:
        hosts.append(urlsplit(api).hostname or "")
    return tuple(sorted({h for h in hosts if h}))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that resolves, checks and then connects to the checked address."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await _resolve(host, port, timeout)
        system: list[IPAddress] = []
        for name in self._policy.system_hosts:
            with contextlib.suppress(httpcore.ConnectError):
                system.extend(await _resolve(name, 0, timeout))
        problem = self._policy.problem(host, port, addresses, system)
        if problem is not None:
            raise EgressDenied(host, problem)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"{host} has no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressDenied(path, "unix sockets are never reached")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that uses :class:`GuardedBackend`."""

    def __init__(self, policy: EgressPolicy) -> None:
        super().__init__(retries=0, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=GuardedBackend(policy),
            retries=0,
        )


_clients: dict[tuple[asyncio.AbstractEventLoop, EgressPolicy], httpx.AsyncClient] = {}


def tenant_client(tenant: str | None) -> httpx.AsyncClient:
    """The HTTP client for requests a definition of ``tenant`` controls (one per policy and
    event loop, so a connection opened under one tenant's policy is never reused by another's).
    """
    policy = policy_for(tenant)
    loop = asyncio.get_running_loop()
    key = (loop, policy)
    client = _clients.get(key)
    if client is None or client.is_closed:
        for stale in [k for k in _clients if k[0] is not loop and k[0].is_closed()]:
            del _clients[stale]
        client = httpx.AsyncClient(
            transport=_GuardedTransport(policy), follow_redirects=False, trust_env=False
        )
        _clients[key] = client
    return client


async def _resolve(host: str, port: int, timeout: float | None) -> Sequence[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
        )
    except (OSError, TimeoutError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    found: dict[IPAddress, None] = {}
    for *_, sockaddr in infos:
        found[ipaddress.ip_address(str(sockaddr[0]).split("%")[0])] = None
    return list(found)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, NAT64 or 6to4 IPv6 address."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _kind(address: IPAddress) -> str:
    for attr, label in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local, where cloud metadata lives"),
        ("is_unspecified", "unspecified"),
        ("is_multicast", "multicast"),
        ("is_private", "a private range"),
        ("is_reserved", "reserved"),
    ):
        if getattr(address, attr):
            return label
    return "not globally routable"


def _is_host_name(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return bool(name) and all(
        0 < len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
        for label in labels
    )
