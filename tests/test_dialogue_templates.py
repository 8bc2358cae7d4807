"""Flow templates and conditions: useful expressions work, anything that could run code or
build huge values is refused, and URL values cannot escape their path segment."""

from __future__ import annotations

import pytest

from smartsupport.dialogue.templates import (
    TemplateError,
    check,
    evaluate,
    render,
    render_data,
    render_url,
)

SCOPE = {
    "order": {
        "id": "ORD-10234",
        "status": "shipped",
        "total": 89.0,
        "currency": "USD",
        "items": [{"name": "Trail Runner shoes"}, {"name": "Socks"}],
        "return": {"eligible": False},
    },
    "slots": {"order_id": "ORD-10234"},
    "customer": None,
    "prefilled": {"order_id": True},
}


def test_render_fills_holes_with_data_and_functions():
    text = render(
        "Order {{ order.id }}: {{ join(pluck(order.items, 'name')) }} for "
        "{{ money(order.total, order.currency) }}",
        SCOPE,
    )
    assert text == "Order ORD-10234: Trail Runner shoes, Socks for $89.00"


def test_conditions_and_conditional_text():
    assert evaluate("order.status == 'shipped' and not customer", SCOPE) is True
    assert evaluate("order['return'].eligible", SCOPE) is False
    assert (
        render("{{ 'Your last order, ' + order.id if prefilled.order_id else 'Order' }}", SCOPE)
        == "Your last order, ORD-10234"
    )


def test_missing_data_is_empty_not_an_error():
    assert (
        render("[{{ customer.name }}][{{ order.nope.deeper }}][{{ order.items[9] }}]", SCOPE)
        == "[][][]"
    )
    assert evaluate("customer.orders", SCOPE) is None
    assert evaluate("order.total > customer", SCOPE) is False  # None comparisons are false


@pytest.mark.parametrize(
    "source",
    [
        "order.__class__",
        "__import__('os')",
        "open('/etc/passwd')",
        "order.items.pop()",
        "[x for x in order.items]",
        "lambda: 1",
        "order.id.upper()",
        "(1).__class__",
    ],
)
def test_code_execution_is_refused(source):
    with pytest.raises(TemplateError):
        check(source)


def test_no_python_attributes_even_on_real_objects():
    class Secretive:
        token = "s3cret"

    assert evaluate("thing.token", {"thing": Secretive()}) is None


def test_no_huge_values():
    assert evaluate("'x' * 1000000000", {}) is None
    assert evaluate("[1] * 1000000000", {}) is None
    assert evaluate("10 / 0", {}) is None


def test_url_values_are_one_encoded_segment():
    scope = {"slots": {"order_id": "../admin?delete=1#x"}}
    assert render_url("/orders/{{ slots.order_id }}", scope) == (
        "/orders/..%2Fadmin%3Fdelete%3D1%23x"
    )


def test_render_data_keeps_types_of_whole_holes():
    data = render_data(
        {"n": "{{ order.total }}", "s": "id {{ order.id }}", "l": ["{{ customer }}"]}, SCOPE
    )
    assert data == {"n": 89.0, "s": "id ORD-10234", "l": [None]}


def test_within_keeps_only_the_items_the_other_list_has_in_their_own_order():
    scope = {
        "remembered": {"references": ["ORD-10236", "RET-50002", "ORD-10234", "ORD-10238"]},
        "customer": {"orders": [{"id": "ORD-10238"}, {"id": "ORD-10234"}]},
    }
    mine = "within(remembered.references, pluck(customer.orders, 'id'))"
    assert evaluate(mine, scope) == ["ORD-10234", "ORD-10238"]
    assert evaluate(f"first({mine})", scope) == "ORD-10234"
    # Nothing remembered, or no profile to check against: nothing at all.
    assert evaluate(mine, {"customer": scope["customer"]}) == []
    assert evaluate(mine, {"remembered": scope["remembered"], "customer": None}) == []
