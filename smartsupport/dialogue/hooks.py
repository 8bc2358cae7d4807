"""Python hooks: the escape hatch for what a flow cannot say in YAML.

A ``hook`` step names a function as ``package.module:function``. It is imported when the
flows load (so a typo stops start-up, not a conversation) and called with a read-only
``HookContext``; sync and async functions both work:

    async def loyalty_discount(ctx: HookContext) -> dict:
        tier = ctx.segment or "standard"
        return {"percent": 15 if tier == "vip" else 5}

The returned mapping becomes a result the following steps can use (``as: discount`` ->
``{{ discount.percent }}``); a ``say`` key in it is also said to the customer. A hook that
raises fails the flow like a failed action: an honest message, and a handoff if the flow
asks for one.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from smartsupport.errors import ConfigurationError


@dataclass(frozen=True)
class HookContext:
    flow: str
    slots: Mapping[str, Any]
    customer: Mapping[str, Any] | None
    segment: str | None
    scope: Mapping[str, Any]  # everything the flow's templates see


def resolve(reference: str) -> Callable[[HookContext], Any]:
    """Import ``package.module:function``; ConfigurationError says what is wrong."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"hook {reference!r}: write it as package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"hook {reference!r}: cannot import {module_name}: {exc}") from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise ConfigurationError(f"hook {reference!r}: {module_name} has no function {attr!r}")
    return function  # type: ignore[no-any-return]


async def run_hook(reference: str, context: HookContext) -> dict[str, Any]:
    """Call the hook; a result that is not a mapping is an error (raised as TypeError)."""
    result = resolve(reference)(context)
    if inspect.isawaitable(result):
        result = await result
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise TypeError(f"hook {reference} returned {type(result).__name__}, not a mapping")
    return dict(result)


def context_for(flow: str, scope: Mapping[str, Any]) -> HookContext:
    customer = scope.get("customer")
    return HookContext(
        flow=flow,
        slots=MappingProxyType(dict(scope.get("slots") or {})),
        customer=MappingProxyType(dict(customer)) if isinstance(customer, Mapping) else None,
        segment=scope.get("segment"),
        scope=MappingProxyType(dict(scope)),
    )
