"""The package's layers point one way, and nothing imports in a circle.

Every module of ``smartsupport`` belongs to one layer of ``LAYERS`` (ARCHITECTURE.md draws
them). A module may import from its own layer and the layers below it, never from a layer
above, and no set of modules may import each other in a cycle. Imports inside functions and
under ``TYPE_CHECKING`` count: an import moved into a function "to avoid a cycle" is still a
cycle. A new module must be placed in a layer here before the suite passes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "smartsupport"

# Lowest first. A pattern is a module name or a package prefix ending in ".*"; the longest
# matching pattern places a module.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "foundation: domain, errors, wire, settings, configs",
        [
            "smartsupport", "domain", "errors", "ids", "wire", "settings",
            "settings_channels", "settings_security", "settings_operations",  # Settings' parts
            "privacy", "business_hours", "workspaces", "embeddings", "remote",
            "encoding",  # the turn's sentence encoder, batched (issue 18)
            "visitor_tokens", "llm.base", "demo_shop", "frames", "messages",
            "limits", "proxies", "log_redaction",
            "data_policy",  # a workspace's retention and consent settings (issue 14)
            "signin_policy",  # SSO, MFA-per-role settings checks (issue 14)
            "keyring",  # AES-256-GCM keys, rotation, keyed hashes (issue 14)
            "metrics", "tracing", "log_format", "telemetry",  # observability (issue 15)
            "search_terms",  # the words transcripts are indexed by (issue 16)
            "pacing",  # background catch-ups in rounds that leave the event loop (issue 18)
            "stopping",  # background tasks stopped for certain (a swallowed cancel)
            "ngrams",  # TF-IDF's grams as scikit-learn cuts them, without it (issue 18)
            "rich", "transcription",  # rich messages, speech to text (issue 13)
            "proactive_request",  # a proactive message as outbox work (issue 13)
            "yaml_text",  # YAML read by libyaml, with the pure-Python parser's errors
        ],
    ),
    (
        "storage, backplane, context",
        [
            "storage", "storage.*", "backplane", "backplane.*", "context", "identity", "turn",
            "events", "events.*",  # event publishers: backends picked by URL, like storage
            "backup",
            "audit",  # the tamper-evident audit log (issue 14)
            "attachments", "attachments.*",  # attachment stores, by URL (issue 13)
            "encryption",  # which keyring a deployment uses (issue 14)
            "jobs",  # background jobs: the leased rows (issue 17)
        ],
    ),
    ("the services container", ["services", "fanout", "job_runner"]),
    (
        "understanding and answering",
        [
            "nlu", "nlu.*", "knowledge", "knowledge.*", "llm", "llm.*", "dialogue", "dialogue.*",
            "encoder_process",  # the encoder's child process, which also scores intents
            "handoff", "handoff.config", "handoff.phrases", "handoff.human_request",
            "handoff.rules", "keywords", "answers", "channels", "channels.base", "channels.web",
            "channels.email", "channels.email_config", "channels.email_parsing",
            "channels.email_sender", "channels.email_state",
            # messaging channels (issue 13): contract side
            "channels.contacts", "channels.messaging_config", "channels.opt_out",
            "channels.options", "channels.whatsapp", "channels.whatsapp_graph",
            "channels.twilio", "channels.twilio_rest", "channels.api_channel",
            "channels.media_download",  # provider media downloads (issue 13)
            "channels.thumbs",  # thumbs under answers on other channels (issue 15)
            "channels.thumbs_reply",  # "reply 1 or 2" on SMS and Twilio WhatsApp (issue 15)
            "helpdesk.http",  # the one HTTP boundary of outbound calls, shared with channels
            "reply_language",
            "customer_memory",  # a verified customer's remembered facts, for flows (issue 16)
            "previous_case",  # continuing a verified customer's earlier case (issue 16)
            "consent",  # consent and the people-only choice (issue 14)
            "attachment_records",  # attachments: sniffing, rows, files (issue 13)
        ],
    ),
    (
        "assistant, outbox, notify, helpdesk",
        [
            "assistant", "outbox", "notify", "notify.*", "helpdesk", "helpdesk.*",
            "warm_up",  # what the first turns would build, built before ready (issue 18)
            "handoff.overflow", "decisions", "article_answers",
            "events.delivery",  # the outbox handler of event.publish
            "customer_data", "retention",  # export, erasure, purge (issue 14)
            "review", "review.*",  # review queue, retraining, experiments, shadow (issue 15)
            "proactive",  # proactive messages: the outbox handler (issue 13)
            "analytics", "analytics_facts", "analytics_report",  # KPIs (issue 15)
            "analytics_rollup", "analytics_sums",  # the KPIs' rollup (issue 15 scale)
            "analytics_daily",  # the rollup's daily sums of settled days (issue 15 scale)
            "analytics_slices",  # daily histograms and question counts per slice (issue 15)
            "feedback",  # thumbs on answers, agent flags (issue 15)
            "resolution_checks", "resolution_agreement",  # the LLM check of resolutions (15)
        ],
    ),
    ("the conversation path", ["conversation"]),
    (
        "web routes, sockets, inbox, staff, channels",
        [
            "channels.web_api", "channels.web_socket", "inbox",
            "channels.plain_socket",  # the widget socket in plain ASGI (issue 18)
            "channels.email_inbound", "channels.email_poller", "inbox.*", "staff", "staff.*",
            "channels.messaging_inbound", "channels.whatsapp_webhook",  # issue 13 routes
            "channels.twilio_webhook", "channels.api_routes", "proactive_api",
            "knowledge.api", "helpdesk.webhooks", "helpdesk.delivery", "outbox_admin",
            "helpdesk.ticket_status",  # a ticket's status back on its conversation (issue 16)
            "api_docs", "asyncapi",
            "http_telemetry",  # request ids, HTTP latency, /metrics
            "review.api", "review.page", "review.actions",  # review API and page (issue 15)
            "privacy_api",  # export, erasure, consent and audit routes (issue 14)
            "analytics_api",  # the KPI report and CSV export (issue 15)
            "channels.media_inbound", "channels.web_attachments",  # files in (issue 13)
            "channels.messaging_media",  # WhatsApp/Twilio media in (issue 13)
            "channels.media_retry",  # a failed media download, fetched again (issue 13)
            "channels.thumbs_inbound",  # thumbs by email link and WhatsApp button (issue 15)
            "job_status",  # a background job as the API shows it (issue 17)
        ],
    ),
    (
        "app wiring and command line",
        [
            "app", "__main__", "wiring", "worker", "cli", "nlu.commands", "knowledge.commands",
            "serve_process",  # what `serve` does to its own process (issue 18)
            "staff.commands", "dialogue.commands", "dialogue.scripts", "dialogue.script_nlu",
            "dialogue.servers", "evaluation", "evaluation.*",
            "dialogue.script_play", "dialogue.visits",  # return visits in scripts (issue 16)
            "privacy_commands",  # customer export/erase, purge, audit (issue 14)
            "review.commands",  # smartsupport review ... (issue 15)
            "key_commands",  # keys create/rotate/reencrypt/status (issue 14)
            "reindex",  # keys reindex: store, search index and rollup hashes (issue 14)
            "socket_server",  # uvicorn's WebSocket protocol, leaner per idle socket (issue 18)
        ],
    ),
]  # fmt: skip


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def short(module: str) -> str:
    return module.removeprefix("smartsupport.") if module != "smartsupport" else module


def layer_of(module: str) -> int:
    name, best, where = short(module), -1, None
    for index, (_, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            if pattern.endswith(".*"):
                hit = name.startswith(pattern[:-1])
                length = len(pattern) - 2
            else:
                hit, length = name == pattern, len(pattern) + 1  # exact beats a prefix
            if hit and length > best:
                best, where = length, index
    assert where is not None, f"{name} is in no layer: place it in LAYERS (tests/test_layers.py)"
    return where


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every smartsupport module ``module`` imports, wherever the import statement is."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def resolve(name: str) -> str:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name

    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {resolve(a.name) for a in node.names if a.name.startswith("smartsupport")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            if not base.startswith("smartsupport"):
                continue
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else resolve(base))
    return found - {module, ""}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(m, p, known) for m, p in known.items()}


def test_every_module_has_a_layer():
    for module in modules():
        layer_of(module)


def test_no_module_imports_from_a_layer_above_it():
    upward = [
        f"{short(m)} ({LAYERS[layer_of(m)][0]}) imports {short(d)} ({LAYERS[layer_of(d)][0]})"
        for m, deps in graph().items()
        for d in deps
        if layer_of(d) > layer_of(m)
    ]
    assert not upward, "imports against the layers:\n  " + "\n  ".join(sorted(upward))


def test_no_import_cycles_counting_function_level_and_type_checking_imports():
    edges = graph()
    cycles = [sorted(map(short, c)) for c in strongly_connected(edges) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found


def test_the_checker_sees_a_cycle_hidden_in_a_function():
    """The checker itself: an import inside a function still closes a cycle."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert sorted(map(sorted, (c for c in strongly_connected(edges) if len(c) > 1))) == [
        ["a", "b", "c"]
    ]
    source = "def f():\n    from smartsupport.conversation import handle_message\n"
    tree_path = PACKAGE / "domain.py"
    known = {"smartsupport.conversation": tree_path, "smartsupport.domain": tree_path}
    parsed = ast.parse(source)
    assert any(isinstance(n, ast.ImportFrom) for n in ast.walk(parsed))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "read_text", lambda self, encoding=None: source)
        assert imports("smartsupport.domain", tree_path, known) == {"smartsupport.conversation"}
