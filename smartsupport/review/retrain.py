"""Retraining from the review queue's decisions: one action, gated by an evaluation.

    result = await retrain(store, workspace, engine, models_dir, staff_id=...)

1. Training data: the workspace's written examples (intents.yaml) and every reviewed message
   assigned to an intent (or to a new one), except the held-out quarter (store.held_out).
2. The candidate is trained the way every intent model is (``nlu.training.train``).
3. Both the candidate and the live model are scored on the workspace's own data:
     - the test set: the held-out reviewed messages with their intent, and the messages
       reviewers marked "needs an article" or dismissed, which must come out of scope;
     - the written examples, which both were trained on: retraining must not lose them.
4. The candidate goes live (``NluEngine.install``, and ``review_models`` status deployed) only
   when it scores at least as well as the live model on the test set and loses no more than
   ``WRITTEN_TOLERANCE`` on the written examples; otherwise it is kept as rejected, with the
   figures that say why, and can be run in shadow mode (shadow.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartsupport.domain import utcnow
from smartsupport.errors import InvalidInput
from smartsupport.ids import new_id
from smartsupport.nlu import training
from smartsupport.nlu.classifier import IntentModel
from smartsupport.nlu.engine import NluEngine
from smartsupport.review.decisions import nlu_spec
from smartsupport.review.store import LABELLING, ReviewModel, ReviewStore
from smartsupport.workspaces import WorkspaceConfig

log = logging.getLogger("smartsupport.review")

WRITTEN_TOLERANCE = 0.01  # calibration noise between two fits of the same examples
MAX_OUT_OF_SCOPE_TESTS = 1000
BATCH = 256
NOTHING_TO_LEARN = (
    "nothing to learn from yet: no reviewed message is assigned to an intent; "
    "decide about the review queue first"
)


@dataclass(slots=True)
class Scored:
    n: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        return round(self.correct / self.n, 4) if self.n else None

    def as_json(self) -> dict[str, Any]:
        return {"n": self.n, "correct": self.correct, "accuracy": self.accuracy}


def score(model: IntentModel | None, texts: list[str], labels: list[str | None]) -> Scored:
    """How many of ``texts`` the model labels as ``labels`` (None: out of scope)."""
    if model is None:  # rules only: nothing is classified, everything is out of scope
        return Scored(len(texts), sum(1 for label in labels if label is None))
    correct = 0
    for start in range(0, len(texts), BATCH):
        part = texts[start : start + BATCH]
        for prediction, label in zip(
            model.predict_vectors(model.encode(part), part), labels[start:], strict=False
        ):
            said = None if prediction.out_of_scope else prediction.ranking[0][0]
            correct += said == label
    return Scored(len(texts), correct)


def models_root(models_dir: Path, workspace_id: str) -> Path:
    # Not under models_dir/<workspace>/: the engine prunes that folder to its one model.
    return models_dir / "review" / workspace_id


async def ready(store: object, workspace: WorkspaceConfig) -> str:
    """A fingerprint of what a retraining would learn from now (the written examples and
    the decisions), which names its job (retrain_jobs.py); raises InvalidInput, as
    ``retrain`` would, when no reviewed message is assigned to an intent yet."""
    spec = nlu_spec(workspace)
    texts, labels = spec.training_pairs()
    decisions = await ReviewStore(store).decisions(workspace.id)
    valid = set(spec.intents) | {d.intent for d in decisions if d.action == "new_intent"}
    if not any(d.action in LABELLING and d.intent in valid for d in decisions):
        raise InvalidInput(NOTHING_TO_LEARN)
    digest = hashlib.sha256(
        training.training_hash(texts, labels, spec.out_of_scope.threshold, spec.mode).encode()
    )
    for d in decisions:
        digest.update(f"\0{d.id}\0{d.action}\0{d.intent or ''}".encode())
    return digest.hexdigest()


async def retrain(
    store: object,
    workspace: WorkspaceConfig,
    engine: NluEngine,
    models_dir: Path,
    *,
    staff_id: str | None = None,
    shadow: bool = False,
) -> ReviewModel:
    """Train a candidate from the decisions, evaluate it against the live model and deploy
    it when it is not worse (``shadow``: run it in shadow mode instead of deploying)."""
    spec = nlu_spec(workspace)
    base_texts, base_labels = spec.training_pairs()
    review = ReviewStore(store)
    await review.forget_erased(workspace.id)  # an erased customer's words are not trained on
    decisions = await review.decisions(workspace.id)
    valid = set(spec.intents) | {d.intent for d in decisions if d.action == "new_intent"}
    labelled = [d for d in decisions if d.action in LABELLING]
    usable = [d for d in labelled if d.intent in valid]
    if not usable:
        raise InvalidInput(NOTHING_TO_LEARN)
    train = [d for d in usable if not d.held_out]
    texts = base_texts + [spec.masked(d.text) for d in train]
    labels = base_labels + [str(d.intent) for d in train]
    if len(set(labels)) < 2:
        raise InvalidInput("an intent model needs examples of at least 2 intents")
    tests = [(spec.masked(d.text), d.intent) for d in usable if d.held_out]
    tests += [(spec.masked(d.text), None) for d in decisions if d.action not in LABELLING][
        -MAX_OUT_OF_SCOPE_TESTS:
    ]
    candidate = await asyncio.to_thread(
        training.train, texts, labels, threshold=spec.out_of_scope.threshold, mode=spec.mode
    )
    previous = engine.model(workspace.id)
    evaluation = await asyncio.to_thread(
        _evaluate, candidate, previous, tests, base_texts, list(base_labels)
    )
    evaluation.update(
        base_hash=training.training_hash(
            base_texts, base_labels, spec.out_of_scope.threshold, spec.mode
        ),
        trained_on={"written": len(base_texts), "reviewed": len(train)},
        skipped=sorted({str(d.intent) for d in labelled if d.intent not in valid}),
    )
    reasons = _worse(evaluation) if previous is not None else []
    if shadow:
        status, reason = "shadow", "run in shadow mode on request; not deployed"
    elif reasons:
        status, reason = "rejected", "not deployed: " + "; ".join(reasons)
    else:
        status = "deployed"
        reason = (
            "deployed: the workspace had no intent model"
            if previous is None
            else "deployed: " + _summary(evaluation)
        )
    model_id = new_id()
    directory = models_root(models_dir, workspace.id) / model_id
    await asyncio.to_thread(training.save, candidate, directory)
    record = ReviewModel(
        id=model_id,
        workspace_id=workspace.id,
        status=status,
        model_hash=str(candidate.meta["hash"]),
        path=str(directory),
        examples=len(texts),
        evaluation=evaluation,
        reason=reason,
        created_by=staff_id,
        created_at=utcnow(),
    )
    if shadow:
        await review.set_shadow(workspace.id, None)
    await review.add_model(record)
    if status == "deployed":
        # As stored: the encoder process scores a model from its directory.
        engine.install(workspace.id, await asyncio.to_thread(training.load, directory))
        log.info("review: model %s deployed for %s (%s)", model_id, workspace.id, reason)
    return record


def _evaluate(
    candidate: IntentModel,
    previous: IntentModel | None,
    tests: list[tuple[str, str | None]],
    written: list[str],
    written_labels: list[str],
) -> dict[str, Any]:
    test_texts = [t for t, _ in tests]
    test_labels = [label for _, label in tests]
    written_as: list[str | None] = list(written_labels)
    return {
        "test": {
            "reviewed_in_scope": sum(1 for _, label in tests if label is not None),
            "reviewed_out_of_scope": sum(1 for _, label in tests if label is None),
            "candidate": score(candidate, test_texts, test_labels).as_json(),
            "previous": score(previous, test_texts, test_labels).as_json(),
        },
        "written": {
            "candidate": score(candidate, written, written_as).as_json(),
            "previous": score(previous, written, written_as).as_json(),
        },
    }


def _worse(evaluation: dict[str, Any]) -> list[str]:
    """Why the candidate scores worse than the live model (empty: it does not)."""
    reasons = []
    test, written = evaluation["test"], evaluation["written"]
    new, old = test["candidate"]["accuracy"], test["previous"]["accuracy"]
    if new is not None and old is not None and new < old:
        reasons.append(
            f"accuracy {new:.2f} on {test['candidate']['n']} held-out reviewed messages is "
            f"below the live model's {old:.2f}"
        )
    new, old = written["candidate"]["accuracy"], written["previous"]["accuracy"]
    if new is not None and old is not None and new < old - WRITTEN_TOLERANCE:
        reasons.append(
            f"accuracy {new:.2f} on the {written['candidate']['n']} written examples is below "
            f"the live model's {old:.2f}"
        )
    return reasons


def _summary(evaluation: dict[str, Any]) -> str:
    test, written = evaluation["test"], evaluation["written"]
    parts = []
    if test["candidate"]["n"]:
        parts.append(
            f"{test['candidate']['accuracy']:.2f} vs {test['previous']['accuracy']:.2f} on "
            f"{test['candidate']['n']} held-out reviewed messages"
        )
    else:
        parts.append("no held-out reviewed messages yet, judged on the written examples")
    if written["candidate"]["n"]:
        parts.append(
            f"{written['candidate']['accuracy']:.2f} vs {written['previous']['accuracy']:.2f} "
            "on the written examples"
        )
    return "; ".join(parts)


async def restore_deployed(
    store: object, engine: NluEngine, workspace: WorkspaceConfig, *, warn: bool = True
) -> ReviewModel | None:
    """Put the workspace's deployed reviewed model in place, at start-up and when another
    process deployed one (live.py); None when there is none or it is already in place. When
    intents.yaml changed since it was trained, the written examples win and the model is left
    out until the next retraining (which a warning asks for)."""
    deployed = await ReviewStore(store).with_status(workspace.id, "deployed")
    current = engine.model(workspace.id)
    if deployed is None or (
        current is not None and current.meta.get("hash") == deployed.model_hash
    ):
        return None
    spec = nlu_spec(workspace)
    texts, labels = spec.training_pairs()
    base = training.training_hash(texts, labels, spec.out_of_scope.threshold, spec.mode)
    if deployed.evaluation.get("base_hash") != base:
        if not warn:
            return None
        log.warning(
            "review: intents.yaml of %s changed since model %s was retrained from the review "
            "queue; serving the model of intents.yaml alone until the next retraining "
            "(smartsupport review retrain --workspace %s)",
            workspace.id, deployed.id, workspace.id,
        )  # fmt: skip
        return None
    try:
        model = await asyncio.to_thread(training.load, Path(deployed.path))
    except Exception as exc:  # noqa: BLE001 - a missing cache entry must not stop start-up
        log.warning("review: model %s of %s cannot be loaded (%s)", deployed.id, workspace.id, exc)
        return None
    engine.install(workspace.id, model)
    return deployed
