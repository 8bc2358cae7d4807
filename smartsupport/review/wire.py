"""The JSON bodies the review API (``api.py``) answers with, as named models that list their
fields exactly: the API description is a product surface, and a client generated from it
must see every field. The library builds plain dicts (``Cluster.as_json``,
``experiments.results``, ...), which the page and the CLI use as they are; the routes turn
them into these models, so a field added to a dict without a field here is a 500 in the
tests, not an undocumented answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ISO_TIME = "ISO 8601 with the UTC offset."


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- the queue ---------------------------------------------------------------------------------
class ReviewMessageOut(Body):
    """A misunderstood customer message (``queue.Misunderstood``)."""

    message_id: str
    conversation_id: str
    text: str
    created_at: str = Field(description=ISO_TIME)
    intent: str | None = Field(description="The model's best guess, null when it had none.")
    confidence: float
    reasons: list[str] = Field(
        description="out_of_scope, low_confidence, negative_feedback, agent_flag, escalated"
    )


class ReviewClusterOut(Body):
    """Similar misunderstood messages (``decisions.Cluster``)."""

    key: str = Field(description="The id of its most central message.")
    title: str = Field(description="The text of its most central message.")
    size: int
    reasons: dict[str, int] = Field(
        description="Messages per reason (out_of_scope, low_confidence, negative_feedback, "
        "agent_flag, escalated); a reason no message has is left out."
    )
    suggested_intent: str | None = Field(description="The model's most frequent guess.")
    examples: list[ReviewMessageOut] = Field(description="The first 5 messages.")
    message_ids: list[str] = Field(description="Every message of the cluster.")


class ReviewQueueOut(Body):
    clusters: list[ReviewClusterOut] = Field(description="Largest first.")
    intents: list[str] = Field(description="The intents a message can be assigned to.")
    messages: int = Field(description="Messages in all clusters.")


class ReviewDecidedOut(Body):
    decided: int


# ---- retrained models ----------------------------------------------------------------------------
class ReviewScoreOut(Body):
    n: int
    correct: int
    accuracy: float | None = Field(description="correct / n; null when n is 0.")


class ReviewTestScoresOut(Body):
    """Both models on the held-out reviewed messages and the dismissed / needs-an-article
    ones (which must come out of scope)."""

    reviewed_in_scope: int
    reviewed_out_of_scope: int
    candidate: ReviewScoreOut
    previous: ReviewScoreOut = Field(description="The live model when it was retrained.")


class ReviewWrittenScoresOut(Body):
    """Both models on the written examples of intents.yaml."""

    candidate: ReviewScoreOut
    previous: ReviewScoreOut


class ReviewTrainedOnOut(Body):
    written: int = Field(description="Examples from intents.yaml.")
    reviewed: int = Field(description="Reviewed messages (the held-out ones excepted).")


class ReviewEvaluationOut(Body):
    test: ReviewTestScoresOut
    written: ReviewWrittenScoresOut
    base_hash: str = Field(description="The training hash of intents.yaml's examples.")
    trained_on: ReviewTrainedOnOut
    skipped: list[str] = Field(description="Assigned intents that no longer exist.")


class ReviewModelOut(Body):
    """A retrained intent model (``store.ReviewModel``)."""

    id: str
    status: Literal["deployed", "rejected", "shadow", "retired"]
    examples: int = Field(description="Training examples.")
    evaluation: ReviewEvaluationOut
    reason: str = Field(description="Why it was deployed or not, with the figures.")
    created_by: str | None
    created_at: str = Field(description=ISO_TIME)


class ReviewModelsOut(Body):
    models: list[ReviewModelOut]


class ReviewDisagreementOut(Body):
    live: str = Field(description="The live model's intent, or '(out of scope)'.")
    shadow: str = Field(description="The shadow model's intent, or '(out of scope)'.")
    count: int
    examples: list[str] = Field(description="Up to 3 of the customers' messages.")


class ReviewAgreementOut(Body):
    """How often the shadow model agreed with the live one (``shadow.agreement``)."""

    model_id: str
    turns: int
    agreed: int
    agreement: float | None = Field(description="agreed / turns; null before any turn.")
    disagreements: list[ReviewDisagreementOut] = Field(description="Most frequent first.")


# ---- bootstrap from history ----------------------------------------------------------------------
class ReviewImportOut(Body):
    """What an import found (``bootstrap.import_history``)."""

    source: str = Field(description="The file's name.")
    questions: int
    clustered: int = Field(description="Questions clustered (at most 1,500).")
    answered: int = Field(description="Questions with an agent's answer.")
    clusters: int
    intent_suggestions: int
    faq_suggestions: int


class ReviewSuggestionOut(Body):
    """A suggested intent or FAQ entry from an import."""

    id: str
    source: str = Field(description="The imported file's name.")
    kind: Literal["intent", "faq"]
    name: str = Field(description="The intent's name, or the FAQ entry's question.")
    answer: str | None = Field(description="FAQ: the agents' answer; null for an intent.")
    examples: list[str] = Field(description="The customers' questions of the cluster.")
    size: int = Field(description="Tickets or conversations in the cluster.")
    status: Literal["open", "accepted", "rejected"]
    decided_by: str | None
    decided_at: str | None = Field(description=ISO_TIME)
    created_at: str = Field(description=ISO_TIME)


class ReviewSuggestionsOut(Body):
    suggestions: list[ReviewSuggestionOut] = Field(description="Open ones, largest first.")


class ReviewIntentAcceptedOut(Body):
    """An intent suggestion accepted: its questions are review decisions now."""

    intent: str
    examples: int
    action: Literal["assign", "new_intent"]


class ReviewArticleAcceptedOut(Body):
    """An FAQ suggestion accepted: a help article now."""

    article_id: str
    title: str


# ---- experiments ---------------------------------------------------------------------------------
class ExperimentVariantOut(Body):
    name: str
    text: str | None = Field(description="null: the intent's configured response (control).")
    weight: float
    flow: str | None = Field(
        default=None, description="A flow experiment's variant: the flow it starts."
    )


class ExperimentOut(Body):
    id: str
    name: str
    intent: str
    kind: Literal["response", "flow"] = Field(
        default="response", description="What is tested: the response or the flow started."
    )
    variants: list[ExperimentVariantOut] = Field(description="The first is the control.")
    status: Literal["running", "stopped", "promoted"]
    winner: str | None
    created_at: str = Field(description=ISO_TIME)
    ended_at: str | None = Field(description=ISO_TIME)


class ExperimentSignificanceOut(Body):
    """A variant's resolution rate against the control's."""

    test: Literal["z", "fisher"] | None = Field(description="null while a side has no data.")
    p_value: float | None
    significant: bool = Field(description="p < 0.05")
    difference: float | None = Field(description="Resolution rate minus the control's.")


class ExperimentFlowsOut(Body):
    """How the flows a variant started ended (their end events)."""

    completed: int
    failed: int
    cancelled: int
    handed_off: int


class ExperimentFiguresOut(Body):
    """A variant's figures over the conversations that were shown it."""

    name: str
    text: str | None
    flow: str | None = Field(default=None, description="The flow this variant starts.")
    conversations: int
    escalated: int
    resolved: int = Field(description="Not escalated and no thumbs down.")
    thumbs_up: int
    thumbs_down: int
    resolution_rate: float | None
    escalation_rate: float | None
    flows: ExperimentFlowsOut | None = Field(
        default=None, description="Flow experiments only: how the variant's flows ended."
    )
    # Absent (not null) for the control: the routes leave unset fields out.
    versus_control: ExperimentSignificanceOut | None = Field(
        default=None, description="Left out for the control."
    )


class ExperimentResultsOut(Body):
    """An experiment with its figures (``experiments.results``)."""

    experiment: ExperimentOut
    control: str = Field(description="The control variant's name.")
    variants: list[ExperimentFiguresOut]


class ExperimentsOut(Body):
    experiments: list[ExperimentResultsOut] = Field(description="Newest first.")
