"""YAML read by libyaml: the same documents as PyYAML's pure-Python safe loader, and its
error message (which quotes the offending line) when a document is not valid YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smartsupport.yaml_text import load_yaml

ROOT = Path(__file__).resolve().parent.parent


def shipped_yaml() -> list[Path]:
    files = [*(ROOT / "smartsupport").rglob("*.yaml"), *(ROOT / "tests").rglob("*.yaml")]
    return sorted(path for path in files if path.is_file())


def test_every_shipped_document_reads_as_the_pure_python_loader_reads_it():
    files = shipped_yaml()
    assert len(files) > 50  # the demo workspace, the catalogs, the resolution suite
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert load_yaml(text) == yaml.safe_load(text), path


def test_the_fast_loader_is_libyaml():
    assert yaml.__with_libyaml__, "PyYAML's wheel ships libyaml; this one was built without it"


@pytest.mark.parametrize(
    "text, quoted",
    [
        ("name: demo\nflows:\n  - a: [1, 2\n  - b: 3\n", "- a: [1, 2"),
        ("greeting: 'unterminated\nother: 1\n", "greeting: 'unterminated"),
        ("a: 1\n b: 2\n", "b: 2"),
    ],
)
def test_an_invalid_document_fails_with_the_line_quoted(text, quoted):
    with pytest.raises(yaml.YAMLError) as raised:
        load_yaml(text)
    message = str(raised.value)
    assert "line " in message
    assert quoted in message


def test_python_objects_are_refused_as_by_safe_load():
    with pytest.raises(yaml.YAMLError):
        load_yaml("!!python/object/apply:os.system ['true']\n")
