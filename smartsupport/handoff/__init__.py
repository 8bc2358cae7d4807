"""Handoff: when a conversation needs a person. Rules as data (``escalation.yaml``, the file
name kept from 0.1), evaluated on every turn, and the overflow path that offers a ticket
when nobody is free in time."""

from smartsupport.handoff.rules import Firing, HandoffOutcome, apply, compared_texts, evaluate

__all__ = ["HandoffOutcome", "Firing", "apply", "compared_texts", "evaluate"]
