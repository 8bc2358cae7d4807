"""The agent inbox: the queue, assignment, live takeover, canned responses, private notes and
CSAT, served as server-rendered pages with a small script and a WebSocket (routes.py).

How a conversation reaches the queue: anything that sets its status to
``waiting_for_agent`` (the conversation path, escalation rules, ``conversation.set_status``)
puts it there. Its place comes from ``conversation.metadata["priority"]`` (urgent, high,
normal, low) and the time of that status change; the reason shown to agents is the
status change's reason, else ``metadata["escalation"]["reason"]``.
"""
