"""flows.yaml validation: the demo loads, and each kind of mistake stops loading with a
message that names the file, the flow and the field."""

from __future__ import annotations

import copy

import pytest
import yaml

from smartsupport.dialogue.loading import load_flows
from smartsupport.dialogue.manager import DialogueManager
from smartsupport.dialogue.program import compile_flow
from smartsupport.errors import ConfigurationError
from smartsupport.workspaces import DEMO_DIR, load_workspace_dir

GOOD = {
    "backends": {"shop": {"base_url": "http://127.0.0.1:9/api"}},
    "actions": {
        "get_order": {
            "backend": "shop",
            "path": "/orders/{{ slots.order_id }}",
            "outcomes": {404: "not_found"},
        }
    },
    "flows": {
        "track": {
            "intents": ["order_status"],
            "slots": {"order_id": {"entity": "order_id", "ask": "Which order?"}},
            "steps": [
                {
                    "call": "get_order",
                    "as": "order",
                    "on": {"not_found": [{"reask": "order_id", "say": "Not found."}]},
                },
                {
                    "if": "order.status == 'shipped'",
                    "then": [{"say": "Shipped."}],
                    "else": [{"say": "Not yet."}],
                },
            ],
        }
    },
}


def broken(mutate):
    data = copy.deepcopy(GOOD)
    mutate(data)
    return data


def test_the_demo_flows_load_and_compile():
    workspace = load_workspace_dir(DEMO_DIR)
    config = load_flows(workspace.section("flows"), DEMO_DIR / "flows.yaml")
    assert set(config.flows) == {
        "track_order",
        "cancel_order",
        "return_item",
        "change_address",
        "stock_check",
        "refund_status",
    }
    for name, flow in config.flows.items():
        assert compile_flow(name, flow, config)


def test_a_good_config_loads():
    config = load_flows(GOOD, "x/flows.yaml")
    assert config.flows["track"].slots["order_id"].entity == "order_id"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["flows"]["track"]["steps"][0].update(call="get_ordr"),
            ["flow 'track'", "steps[0].call", "unknown action 'get_ordr'"],
        ),
        (
            lambda d: d["actions"]["get_order"].update(backend="crm"),
            ["action 'get_order'", "unknown backend 'crm'"],
        ),
        (
            lambda d: d["flows"]["track"]["steps"].append({"reask": "email"}),
            ["flow 'track'", "steps[2]", "unknown slot 'email'"],
        ),
        (
            lambda d: d["flows"]["track"]["steps"].append({"say": "x", "frobnicate": 1}),
            ["flow 'track'", "steps[2]", "frobnicate"],
        ),
        (
            lambda d: d["flows"]["track"]["steps"].append({"wait": 3}),
            ["flow 'track'", "steps[2]", "needs exactly one of"],
        ),
        (
            lambda d: d["flows"]["track"]["steps"][1].update({"if": "order.__class__"}),
            ["flow 'track'", "steps[1].if", "not allowed"],
        ),
        (
            lambda d: d["flows"]["track"]["steps"].append({"say": "{{ open('x') }}"}),
            ["flow 'track'", "steps[2]", "only these functions"],
        ),
        (
            lambda d: d["flows"]["track"]["slots"]["order_id"].update(pattern="(unclosed"),
            ["flow 'track'", "slots.order_id.pattern", "invalid regular expression"],
        ),
        (
            lambda d: d["flows"]["track"]["slots"]["order_id"].pop("ask"),
            ["flow 'track'", "slots.order_id.ask", "Field required"],
        ),
        (
            lambda d: d["flows"]["track"]["slots"]["order_id"].pop("entity"),
            ["flow 'track'", "slots.order_id", "give entity, extract, choices or from_text"],
        ),
        (
            lambda d: d["flows"].update(
                other={"intents": ["order_status"], "steps": [{"say": "hi"}]}
            ),
            ["flow 'other'", "'order_status' already starts flow 'track'"],
        ),
        (lambda d: d["flows"]["track"].update(steps=[]), ["flow 'track'", "steps"]),
        (
            lambda d: d["actions"]["get_order"].update(path="orders/1"),
            ["actions.get_order.path", "must start with '/'"],
        ),
        (
            lambda d: d["backends"]["shop"].update(auth={"type": "bearer", "token_env": "a b"}),
            ["backends.shop.auth.token_env", "not an environment variable name"],
        ),
        (
            lambda d: d["backends"]["shop"].update(auth={"type": "bearer", "token": "literal"}),
            ["backends.shop.auth.token", "Extra inputs are not permitted"],
        ),
        (
            lambda d: d["flows"]["track"]["steps"].append({"hook": "no.such.module:f"}),
            ["flow 'track'", "cannot import no.such.module"],
        ),
        (
            lambda d: d["flows"]["track"]["steps"][0].update({"as": "slots"}),
            ["flow 'track'", "steps[0].as", "reserved"],
        ),
    ],
)
def test_mistakes_are_reported_with_file_flow_and_field(mutate, expected):
    with pytest.raises(ConfigurationError) as caught:
        load_flows(broken(mutate), "ws/flows.yaml")
    message = str(caught.value)
    assert message.startswith("ws/flows.yaml: invalid flows")
    for fragment in expected:
        assert fragment in message


def test_yaml_on_key_is_read_as_outcomes(tmp_path):
    text = """
backends: {shop: {base_url: "http://x"}}
actions: {a: {backend: shop, path: /a, outcomes: {404: missing}}}
flows:
  f:
    intents: [i]
    steps:
      - call: a
        on:
          missing: [{end: cancelled, say: gone}]
"""
    config = load_flows(yaml.safe_load(text), "f.yaml")
    program = compile_flow("f", config.flows["f"], config)
    assert [i.op for i in program][:3] == ["call", "outcome_is", "end"]


def test_a_broken_workspace_stops_the_manager_at_start_up(tmp_path):
    (tmp_path / "workspace.yaml").write_text("id: broken\nname: Broken\n")
    (tmp_path / "flows.yaml").write_text(
        yaml.safe_dump(broken(lambda d: d["flows"]["track"]["steps"][0].update(call="nope")))
    )
    workspace = load_workspace_dir(tmp_path)
    with pytest.raises(ConfigurationError, match=r"(?s)flows.yaml: invalid flows.*unknown action"):
        DialogueManager({workspace.id: workspace}, None, None)


def test_credentials_in_a_base_url_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_URL", "https://user:hunter2@shop.example/api")
    (tmp_path / "workspace.yaml").write_text("id: creds\nname: Creds\n")
    (tmp_path / "flows.yaml").write_text(
        yaml.safe_dump(broken(lambda d: d["backends"]["shop"].update(base_url="${SHOP_URL}")))
    )
    workspace = load_workspace_dir(tmp_path)
    with pytest.raises(ConfigurationError, match="credentials in its base_url") as caught:
        DialogueManager({workspace.id: workspace}, None, None)
    assert "hunter2" not in str(caught.value)
