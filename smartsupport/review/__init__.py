"""The improvement loop (issue 15, docs/review.md): what the assistant misunderstood, grouped
into clusters; reviewers' decisions; retraining gated by an evaluation; suggestions from past
tickets; A/B experiments on responses and flows; shadow runs of a candidate intent model.

    store.py        the tables of migration 0021 behind small named queries
    queue.py        misunderstood turns: out of scope, low confidence, thumbs down, agent
                    flags, escalation after a bot answer
    clusters.py     similar messages grouped (the packaged sentence encoder, offline)
    decisions.py    assign to an intent, create one, needs an article, dismiss
    retrain.py      one action: train, score against the live model, deploy or say why not
    history.py      Zendesk ticket exports and conversation CSVs read into questions/answers
    bootstrap.py    suggested intents and FAQ entries from an import; accepting them
    experiments.py  A/B tests of an intent's response or flow, per-variant figures, significance
    shadow.py       a candidate model on live turns, off the critical path
    live.py         the hook in assistant.decide: shadow hand-over, experiment variants,
                    models deployed by another process
    actions.py      each reviewer action, audited, for the API and the page (layer 7)
    wire.py         the API's answers as named models listing their fields exactly
    api.py          /api/v1/review/{workspace}/... (layer 7)
    page.py         /inbox/review, the inbox page (layer 7)
    commands.py     smartsupport review ... (layer 8)
"""
