"""When a conversation needs a person: rules as data (``escalation.yaml``), evaluated on
every turn, and the offline / overflow paths that turn a handoff into a ticket."""

from smartsupport.escalation.rules import EscalationOutcome, Firing, apply, evaluate, record

__all__ = ["EscalationOutcome", "Firing", "apply", "evaluate", "record"]
