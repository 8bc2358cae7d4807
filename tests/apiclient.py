"""A typed Python client generated from the app's own ``/openapi.json``, for the API tests.

openapi-python-client writes the package ``smartsupport_client`` into a temporary directory
once per test session (the ``api`` fixture in conftest.py), failing on any warning, so an
operation it cannot generate fails the suite. Tests call its typed functions over the app's
TestClient and assert on its models: a route whose body does not parse into the documented
model, or whose status is not documented (``raise_on_unexpected_status``), fails the test.

    def test_start(api, client):
        http = api.client(client)
        created = api.create_conversation.sync(
            client=http, body=api.models.ConversationIn(workspace="demo")
        )
        assert isinstance(created, api.models.ConversationOut)

Operations are attributes named by their operation id in snake_case (``createConversation``
-> ``api.create_conversation``), each a module with ``sync`` and ``sync_detailed``.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "smartsupport_client"
# No post hooks: the generator would run ruff over the output, which the tests never read.
CONFIG = f"package_name_override: {PACKAGE}\npost_hooks: []\n"


def generate(spec: dict[str, Any], directory: Path) -> Path:
    """Generate the client package for ``spec`` under ``directory``; returns its parent."""
    (directory / "openapi.json").write_text(json.dumps(spec), encoding="utf-8")
    (directory / "config.yaml").write_text(CONFIG, encoding="utf-8")
    beside = Path(sys.executable).with_name("openapi-python-client")
    generator = str(beside) if beside.exists() else shutil.which("openapi-python-client")
    assert generator, "openapi-python-client is missing: pip install -e '.[test]'"
    command = [
        generator,
        "generate",
        "--path",
        str(directory / "openapi.json"),
        "--config",
        str(directory / "config.yaml"),
        "--meta",
        "none",
        "--output-path",
        str(directory / PACKAGE),
        "--fail-on-warning",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise AssertionError(
            "openapi-python-client could not generate a client from /openapi.json "
            f"(fix the description, not the generator):\n{done.stdout}\n{done.stderr}"
        )
    return directory


class GeneratedApi:
    """The generated package: ``models``, ``errors``, and one module per operation."""

    def __init__(self, root: Path) -> None:
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        package = importlib.import_module(PACKAGE)
        self.models = importlib.import_module(f"{PACKAGE}.models")
        self.errors = importlib.import_module(f"{PACKAGE}.errors")
        self.types = importlib.import_module(f"{PACKAGE}.types")
        self._client_class = package.Client
        self.operations: dict[str, ModuleType] = {}
        api = importlib.import_module(f"{PACKAGE}.api")
        for tag in pkgutil.iter_modules(api.__path__):
            group = importlib.import_module(f"{PACKAGE}.api.{tag.name}")
            for operation in pkgutil.iter_modules(group.__path__):
                module = importlib.import_module(f"{group.__name__}.{operation.name}")
                self.operations[operation.name] = module

    def __getattr__(self, name: str) -> ModuleType:
        try:
            return self.operations[name]
        except KeyError:
            raise AttributeError(f"the generated client has no operation {name!r}") from None

    def client(self, http: Any) -> Any:
        """A generated ``Client`` that sends through ``http`` (a TestClient, which keeps the
        app's lifespan and cookies); undocumented statuses raise ``UnexpectedStatus``."""
        return self._client_class(
            base_url=str(http.base_url), raise_on_unexpected_status=True
        ).set_httpx_client(http)
