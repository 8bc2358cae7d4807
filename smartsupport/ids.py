"""Identifiers: random, URL-safe and unguessable, so an id alone grants nothing."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return uuid.uuid4().hex
