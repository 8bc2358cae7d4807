"""YAML read with libyaml's safe loader, and PyYAML's own parser's message when it fails.

PyYAML's wheels carry libyaml, whose safe loader reads the same documents as the pure-Python
one about ten times faster: a server reads its workspaces' YAML (0.18 s for the demo's with
the pure-Python loader) and the message catalogs on every start. libyaml's errors name the
line and column but not the text there, so a document that fails is read once more by the
pure-Python loader, whose error quotes the offending line for the person fixing it.
"""

from __future__ import annotations

from typing import Any

import yaml

# Without libyaml (a PyYAML built from source without it) the pure-Python loader reads the
# same documents, only slower.
_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """The document in ``text``, as ``yaml.safe_load`` would give it. Raises
    ``yaml.YAMLError`` with the pure-Python parser's message (line, column and the line's
    text) when the document is not valid YAML."""
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        if _FAST_LOADER is yaml.SafeLoader:
            raise
    return yaml.safe_load(text)  # raises the same error, with the better message
