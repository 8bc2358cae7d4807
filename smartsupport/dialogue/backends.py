"""The business systems a workspace's flows call, built once per process.

Each backend named in a workspace's ``flows.yaml`` gets its base URL (overridable by name for
tests and staging), a circuit breaker, and an HTTP client: the process's shared one, or, for
the bundled demo shop (``builtin://demo-shop``), an in-process ASGI client, so the demo works
without knowing which port the server listens on.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from smartsupport.demo_shop import Shops, create_shop_app
from smartsupport.dialogue.actions import Backend, expand_env
from smartsupport.errors import ConfigurationError
from smartsupport.remote import CircuitBreaker
from smartsupport.workspaces import WorkspaceConfig

BUILTIN_SHOP = "builtin://demo-shop"


class Backends:
    """Builds flow backends and owns the HTTP clients it had to open (closed by ``aclose``)."""

    def __init__(
        self,
        http: httpx.AsyncClient | None,
        overrides: Mapping[str, str] | None = None,
        shops: Shops | None = None,
    ) -> None:
        self._http = http
        self._overrides = dict(overrides or {})
        self._shops = shops or Shops()
        self._own: list[httpx.AsyncClient] = []

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
            self._own.append(self._http)
        return self._http

    def build(self, workspace: WorkspaceConfig, name: str, spec: Any) -> Backend:
        url = self._overrides.get(f"{workspace.id}.{name}") or self._overrides.get(name)
        url = url or expand_env(spec.base_url)
        if urlsplit(url).username or urlsplit(url).password:
            # httpx logs request URLs: credentials belong in ``auth`` (sent as headers).
            raise ConfigurationError(
                f"workspace {workspace.id}: backend {name!r} has credentials in its base_url; "
                "use auth: {type: basic, username_env: ..., password_env: ...} instead"
            )
        breaker = CircuitBreaker(spec.breaker_failures, spec.breaker_reset_seconds)
        if url.startswith(BUILTIN_SHOP):
            shop_file = (workspace.model_extra or {}).get("shop_file", "shop.json")
            shop = self._shops.get(Path(workspace.source_dir or ".") / shop_file)
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_shop_app(shop)))
            self._own.append(client)
            return Backend(
                name, spec, client, "http://demo-shop" + url[len(BUILTIN_SHOP) :], breaker
            )
        return Backend(name, spec, self._client(), url, breaker)

    async def aclose(self) -> None:
        for client in self._own:
            await client.aclose()
        self._own.clear()
