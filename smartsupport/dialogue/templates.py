"""Safe templates and conditions for flow authors.

A template is text with ``{{ expression }}`` holes; a condition is one expression. The
expression language is a small, whitelisted subset of Python read with ``ast``:

    order.status == 'shipped' and not slots.email
    'your last order, ' + order.id if prefilled.order_id else 'order ' + order.id
    join(pluck(order.items, 'name'), ', ')        money(order.total, order.currency)
    date(order.eta)                               date(refund.issued, 'medium')

Attribute access and subscripts only look *into data* (dict keys, list positions), never at
Python attributes, and calls only reach the functions in ``FUNCTIONS`` and ``LOCALISED``; so
a flow file can read the conversation's data but cannot run code. A missing name or key is
``None`` rather than an error, because flow data (an API response, an optional slot) is often
partial.

``money`` and ``date`` write amounts and dates the way the customer's language does, with
Babel's CLDR data ("$1,234.50" in English, "1.234,50 US$" in Spanish, "2026年3月14日" in
Japanese): the language is the scope's ``language`` (the flow engine sets the language of the
text being rendered), English when there is none.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

HOLE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
MAX_STRING = 10_000  # no expression may build a longer string (e.g. 'x' * 10**9 is refused)


class TemplateError(ValueError):
    """An expression that is not allowed or cannot be parsed."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@lru_cache(maxsize=64)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en")


def _money(language: str, amount: Any, currency: Any = "USD") -> str:
    """An amount in a currency (ISO 4217 code), written for ``language``."""
    try:
        value = float(amount)
    except (TypeError, ValueError):
        return ""
    code = str(currency or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        return format_decimal(value, format="#,##0.00", locale=_locale(language))
    return str(format_currency(value, code, locale=_locale(language)))


DATE_FORMATS = ("short", "medium", "long", "full")


def _date(language: str, value: Any, style: Any = "long") -> str:
    """An ISO date (or date-time: its date) written for ``language``; as given when it is not
    a date, so a backend's free text still shows."""
    if isinstance(value, datetime):
        day: date = value.date()
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str) and value.strip():
        try:
            day = datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
        except ValueError:
            try:
                day = date.fromisoformat(value.strip())
            except ValueError:
                return value
    else:
        return ""
    chosen = style if style in DATE_FORMATS else "long"
    return str(format_date(day, format=chosen, locale=_locale(language)))


def _join(items: Any, sep: str = ", ") -> str:
    if not isinstance(items, list | tuple):
        return "" if items is None else str(items)
    return str(sep).join(_text(i) for i in items)


def _pluck(items: Any, key: str) -> list[Any]:
    if not isinstance(items, list | tuple):
        return []
    return [i.get(key) for i in items if isinstance(i, Mapping)]


def _first(items: Any) -> Any:
    return items[0] if isinstance(items, list | tuple) and items else None


def _only(items: Any) -> Any:
    """The one item of a list of exactly one, else None: "their open order" only when there
    is no other to mistake it for."""
    return items[0] if isinstance(items, list | tuple) and len(items) == 1 else None


def _where(items: Any, key: str, value: Any) -> list[Any]:
    if not isinstance(items, list | tuple):
        return []
    return [i for i in items if isinstance(i, Mapping) and i.get(key) == value]


def _within(items: Any, allowed: Any) -> list[Any]:
    """The items that are also in ``allowed``, in their own order: "the orders remembered
    from last time that the shop says are this customer's" (the shop's list is the check)."""
    if not isinstance(items, list | tuple) or not isinstance(allowed, list | tuple):
        return []
    return [i for i in items if i in allowed]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": lambda x: len(x) if isinstance(x, str | list | tuple | dict) else 0,
    "upper": lambda x: _text(x).upper(),
    "lower": lambda x: _text(x).lower(),
    "title": lambda x: _text(x).title(),
    "str": _text,
    "join": _join,
    "pluck": _pluck,
    "first": _first,
    "only": _only,
    "where": _where,
    "within": _within,
}
# Functions that write for the customer's language: called with the scope's ``language``
# before the template's own arguments.
LOCALISED: dict[str, Callable[..., str]] = {"money": _money, "date": _date}
CALLABLE = FUNCTIONS.keys() | LOCALISED.keys()

_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b if b is not None else False,
    ast.NotIn: lambda a, b: a not in b if b is not None else True,
    ast.Is: lambda a, b: a is b,
    ast.IsNot: lambda a, b: a is not b,
}


# A bounded memo of a pure function of the text (like ``re``'s pattern cache): the result
# depends on nothing but ``source``, so workspaces sharing it cannot see each other's data.
@lru_cache(maxsize=2048)
def compile_expression(source: str) -> ast.expr:
    """Parse and check an expression once; raise TemplateError naming what is not allowed."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise TemplateError(f"cannot parse {source.strip()!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name) and _private(node):
            raise TemplateError(f"names starting with '_' are not allowed in {source!r}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in CALLABLE:
                raise TemplateError(
                    f"only these functions may be called: {', '.join(sorted(CALLABLE))} "
                    f"(in {source.strip()!r})"
                )
            if node.keywords:
                raise TemplateError(f"keyword arguments are not supported in {source!r}")
        if not isinstance(node, _ALLOWED):
            raise TemplateError(f"{type(node).__name__} is not allowed in {source.strip()!r}")
    return tree.body


def _private(node: ast.Attribute | ast.Name) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else node.id
    return name.startswith("_")


_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Mod,
    ast.Compare,
    ast.IfExp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Attribute,
    ast.Subscript,
    ast.List,
    ast.Tuple,
    ast.Call,
    *_COMPARE.keys(),
)


def evaluate(source: str, scope: Mapping[str, Any]) -> Any:
    """The value of an expression over ``scope``; TemplateError if it is not allowed."""
    return _eval(compile_expression(source), scope)


def check(source: str) -> None:
    """Raise TemplateError if ``source`` is not a valid expression (used at load time)."""
    compile_expression(source)


def _eval(node: ast.expr, scope: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            return FUNCTIONS[node.id]
        return scope.get(node.id)
    if isinstance(node, ast.Attribute):
        return _lookup(_eval(node.value, scope), node.attr)
    if isinstance(node, ast.Subscript):
        return _lookup(_eval(node.value, scope), _eval(node.slice, scope))
    if isinstance(node, ast.BoolOp):
        value: Any = None
        for operand in node.values:
            value = _eval(operand, scope)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, scope)
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(operand, int | float) else None
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _eval(node.test, scope) else node.orelse, scope)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, scope)
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError:
                return False  # e.g. None < 3: a missing value fails the comparison
            left = right
        return True
    if isinstance(node, ast.BinOp):
        return _binop(node.op, _eval(node.left, scope), _eval(node.right, scope))
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, scope) for e in node.elts]
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = [_eval(a, scope) for a in node.args]
        try:
            if node.func.id in LOCALISED:
                return LOCALISED[node.func.id](str(scope.get("language") or "en"), *args)
            return FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError):
            return None
    raise TemplateError(f"{type(node).__name__} is not allowed")  # compile_expression stops it


def _lookup(container: Any, key: Any) -> Any:
    if isinstance(container, Mapping):
        return container.get(key)
    if isinstance(container, list | tuple) and isinstance(key, int) and not isinstance(key, bool):
        return container[key] if -len(container) <= key < len(container) else None
    return None


def _binop(op: ast.operator, left: Any, right: Any) -> Any:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
    if isinstance(op, ast.Add):
        if numbers:
            return left + right
        if isinstance(left, str) or isinstance(right, str):
            result = _text(left) + _text(right)
            return result if len(result) <= MAX_STRING else result[:MAX_STRING]
        if isinstance(left, list) and isinstance(right, list):
            return left + right
        return None
    if not numbers:
        return None  # no string or list repetition: a template must not build huge values
    try:
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            return left / right
        if isinstance(op, ast.Mod):
            return left % right
    except ZeroDivisionError:
        return None
    return None


def check_template(template: str) -> None:
    """Raise TemplateError if any ``{{ ... }}`` hole of ``template`` is invalid."""
    for match in HOLE.finditer(template):
        compile_expression(match.group(1))


def render(template: str, scope: Mapping[str, Any]) -> str:
    """Fill every ``{{ expression }}`` hole; ``None`` renders as nothing."""
    return HOLE.sub(lambda m: _text(evaluate(m.group(1), scope)), template)


def render_url(template: str, scope: Mapping[str, Any]) -> str:
    """Like ``render``, but each value is percent-encoded as one path segment, so a slot
    value such as ``../admin`` or ``a?b=c`` cannot change which URL is called."""
    return HOLE.sub(lambda m: quote(_text(evaluate(m.group(1), scope)), safe=""), template)


def render_data(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render templates inside a JSON-like structure (a request body or query). A string
    that is exactly one hole keeps the value's type (a number stays a number)."""
    if isinstance(value, str):
        whole = HOLE.fullmatch(value.strip())
        if whole:
            return evaluate(whole.group(1), scope)
        return render(value, scope)
    if isinstance(value, dict):
        return {k: render_data(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render_data(v, scope) for v in value]
    return value
