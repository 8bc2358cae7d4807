"""Running a macro on a conversation: a chain of named steps, in the order that keeps a
half-way failure honest.

    check      the caller's role, the confirmation, the placeholders, who holds the
               conversation: every refusal happens here, before anything is done
    claim      the run id's row (migration 0028): a second request with the same run id (a
               double click, a retry) gets the first one's outcome and runs nothing
    action     the business action (refund, cancel, resend a label), through the workspace's
               flows.yaml actions. It is the step that can fail, so it goes first: when it
               fails nothing else happens, the customer is told nothing, and the agent
               sees what failed (the answer, and a private note for the team)
    reply      only now the customer reads the reply, with the action's result filled in;
               a field the result lacks keeps the reply back rather than send a wrong one
    tags       the macro's tags
    status     resolve, or hand back to the assistant
    record     the run's outcome on its row, and one audit entry (who, which macro, which
               conversation, each step's outcome; never the business API's data)

A step after a successful action that fails stops the run as ``partial``: the action is
done (it is not undone), the steps after it are not, and the answer says which.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from smartsupport.domain import ConversationStatus
from smartsupport.errors import Conflict, Forbidden, InvalidInput, SmartsupportError
from smartsupport.inbox import business_actions, macros, notes, tags, takeover
from smartsupport.inbox.assignment import require_holder
from smartsupport.inbox.changes import load_for
from smartsupport.inbox.macro_store import Macro, MacroStore, Run
from smartsupport.inbox.store import InboxStore
from smartsupport.services import Services
from smartsupport.staff import StaffUser, audited
from smartsupport.storage.base import SqlDatabase

log = logging.getLogger("smartsupport.inbox")


@dataclass(slots=True)
class Outcome:
    run: Run
    replayed: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run.run_id,
            "macro_id": self.run.macro_id,
            "state": self.run.state,
            "replayed": self.replayed,
            "steps": self.run.steps,
            "message": summary(self.run),
        }


def summary(run: Run) -> str:
    """One sentence for the agent: what was done, and what failed."""
    failed = next((s for s in run.steps if not s.get("ok")), None)
    if run.state == "done":
        return "Done: " + ", ".join(s["step"] for s in run.steps) + "."
    if run.state == "running":
        return "This macro is still running."
    if failed is None:
        return "The macro did not finish."
    why = failed.get("error") or failed.get("outcome") or "failed"
    if run.state == "failed":
        return (
            f"Nothing was done: the {failed['step']} step failed ({why}). "
            "The customer was told nothing."
        )
    done = [s["step"] for s in run.steps if s.get("ok")]
    return (
        f"Done: {', '.join(done)}. Not done: the {failed['step']} step failed ({why}); "
        "finish it by hand."
    )


def database(services: Services) -> SqlDatabase:
    if not isinstance(services.store, SqlDatabase):
        raise TypeError("macros need an SQL store")
    return services.store


@dataclass(slots=True)
class Situation:
    """What a macro's plan reads of one conversation (read once for every macro)."""

    conversation: Any
    customer: Any
    messages: list[Any]
    workspace_name: str

    def plan(self, macro: Macro, user: StaffUser) -> macros.Plan:
        if macro.workspace_id != self.conversation.workspace_id:
            raise Conflict("this macro belongs to another workspace", code="wrong_workspace")
        return macros.plan(
            macro.spec,
            conversation=self.conversation,
            customer=self.customer,
            messages=self.messages,
            agent_name=user.name,
            workspace_name=self.workspace_name,
        )


async def situation(services: Services, user: StaffUser, conversation_id: str) -> Situation:
    conversation = await load_for(services, user, conversation_id)
    workspace = services.workspaces.get(conversation.workspace_id)
    return Situation(
        conversation,
        await services.store.get_customer(conversation.customer_id),
        await services.store.list_messages(conversation_id),
        workspace.name if workspace else conversation.workspace_id,
    )


async def check(
    services: Services,
    user: StaffUser,
    conversation: Any,
    macro: Macro,
    plan: macros.Plan,
    *,
    confirmed: bool,
) -> None:
    """Every refusal, before anything is done."""
    spec = macro.spec
    if not user.has_role(spec.role):
        raise Forbidden(
            f"the macro {spec.title!r} needs the {spec.role} role", code="role_required"
        )
    if spec.action is not None and not confirmed:
        raise Conflict(
            "this macro calls a business action: confirm it first", code="confirmation_required"
        )
    if plan.missing:
        raise Conflict(
            "the reply lacks " + ", ".join(f"{{{m}}}" for m in plan.missing) + " for this "
            "conversation; write the reply by hand",
            code="missing_placeholder",
        )
    if spec.action is not None:
        if spec.action.name not in business_actions.action_names(services, macro.workspace_id):
            raise Conflict(f"the action {spec.action.name!r} is not configured", code="no_action")
        # An action whose request names the order cannot run without one (it would ask
        # the API about order "" and report a misleading failure).
        if "order_id" in _action_request(services, macro) and not plan.order_id:
            raise Conflict("no order is known for this conversation", code="missing_order")
    row = await InboxStore(services.store).row(conversation.id)
    if spec.reply:
        holding = (
            conversation.status is ConversationStatus.WITH_AGENT
            and (row or {}).get("agent_id") == user.id
        )
        if not holding:
            raise Conflict("claim or take over the conversation to reply", code="not_holder")
    elif spec.status != "keep":
        require_holder(user, conversation, row)


def _action_request(services: Services, macro: Macro) -> str:
    engine = business_actions.engine_of(services, macro.workspace_id)
    spec = (
        engine.config.actions.get(macro.spec.action.name) if engine and macro.spec.action else None
    )
    return f"{spec.path} {spec.body} {spec.params}" if spec else ""


async def run(
    services: Services,
    user: StaffUser,
    conversation_id: str,
    macro: Macro,
    run_id: str,
    *,
    confirmed: bool,
) -> Outcome:
    if not run_id or len(run_id) > 40 or not run_id.replace("-", "").isalnum():
        raise InvalidInput("a run id is 1-40 letters, digits or '-'", code="invalid_run_id")
    seen_here = await situation(services, user, conversation_id)
    conversation, plan = seen_here.conversation, seen_here.plan(macro, user)
    store = MacroStore(database(services))
    seen = await store.find_run(conversation_id, run_id)
    if seen is not None:  # a double click after the first finished: before the checks,
        return _replay(seen, macro)  # which the first run's effects may now refuse
    try:
        await check(services, user, conversation, macro, plan, confirmed=confirmed)
    except SmartsupportError as exc:
        if getattr(exc, "code", "") == "role_required":  # who tried what they may not do
            await audited.action(
                services.store, "macro.refused", by=user,
                target=f"conversation:{conversation.id}", workspace_id=conversation.workspace_id,
                details={"macro": macro.id, "name": macro.spec.name, "role": macro.spec.role},
            )  # fmt: skip
        raise
    seen = await store.claim_run(
        conversation.workspace_id, conversation_id, run_id, macro.id, user.id
    )
    if seen is not None:  # the same run again: its outcome, nothing run twice
        return _replay(seen, macro)
    current = Run(conversation_id, run_id, macro.id, user.id, "running")
    try:
        await _steps(services, user, conversation, macro, plan, current)
    except BaseException:
        # A bug or a cancelled request half-way: the row and the audit log still say what
        # was done (a refund that went through must not look like a run that never was).
        current.state = "failed" if not any(s.get("ok") for s in current.steps) else "partial"
        current.steps.append({"step": "internal", "ok": False, "error": "unexpected error"})
        try:
            await store.finish(current)
            await _record(services, user, conversation, macro, Outcome(current))
        except Exception:  # noqa: BLE001 - the original error is the one to raise
            log.exception("could not record the interrupted macro run %s", run_id)
        raise
    await store.finish(current)
    outcome = Outcome(current)
    await _record(services, user, conversation, macro, outcome)
    return outcome


def _replay(seen: Run, macro: Macro) -> Outcome:
    if seen.macro_id != macro.id:
        raise Conflict("this run id was used for another macro", code="run_id_taken")
    return Outcome(seen, replayed=True)


async def _steps(
    services: Services, user: StaffUser, conversation: Any, macro: Macro, plan: macros.Plan,
    run: Run,
) -> None:  # fmt: skip
    spec = macro.spec
    data: dict[str, Any] = {}
    if spec.action is not None:
        workspace = services.workspaces.get(conversation.workspace_id)
        values = business_actions.scope(
            conversation, order_id=plan.order_id, email=plan.email, slots=spec.action.slots,
            run_id=run.run_id, facts=workspace.facts if workspace else None,
        )  # fmt: skip
        result = await business_actions.call(
            services, conversation.workspace_id, spec.action.name, values
        )
        step = {"step": "action", "action": spec.action.name, "order_id": plan.order_id,
                **result.event(), "ok": result.ok}  # fmt: skip
        run.steps.append(step)
        if not result.ok:
            run.state = "failed"
            await _failure_note(services, user, conversation.id, spec.title, step)
            return
        data = result.data
    step_name = "reply"
    try:
        if spec.reply:
            text, lacking = macros.with_result(plan.reply, data)
            if lacking:
                why = "the action's result lacks " + ", ".join(lacking)
                run.steps.append({"step": "reply", "ok": False, "error": why})
                return _stop(run)
            message = await takeover.send_agent_message(
                services, user, conversation.id, text, client_id=f"macro-{run.run_id}"
            )
            run.steps.append({"step": "reply", "ok": True, "message_id": message.id})
        step_name = "tags"
        if spec.tags:
            found = await tags.add_tags(
                database(services), conversation.workspace_id, conversation.id, spec.tags, user.id
            )
            run.steps.append({"step": "tags", "ok": True, "tags": found})
        step_name = "status"
        if spec.status == "resolved":
            await takeover.resolve(services, user, conversation.id)
            run.steps.append({"step": "status", "ok": True, "status": "resolved"})
        elif spec.status == "bot":
            await takeover.hand_back(services, user, conversation.id)
            run.steps.append({"step": "status", "ok": True, "status": "bot"})
    except SmartsupportError as exc:  # e.g. the customer's channel refused the reply
        run.steps.append({"step": step_name, "ok": False, "error": str(exc)})
        return _stop(run)
    run.state = "done"


def _stop(run: Run) -> None:
    """A step after the business action failed: what ran stays done (a refund is not
    undone), what follows does not run."""
    run.state = "partial" if any(s.get("ok") for s in run.steps) else "failed"


async def _failure_note(
    services: Services, user: StaffUser, conversation_id: str, title: str, step: dict[str, Any]
) -> None:
    """A private note, so whoever looks at the conversation next knows it was tried."""
    why = step.get("error") or step.get("outcome")
    status = f" (HTTP {step['status']})" if step.get("status") else ""
    text = (
        f"Macro {title!r} failed: the action {step['action']} answered {why}{status}. "
        "Nothing was done and the customer was told nothing."
    )
    try:
        await notes.add_note(services, user, conversation_id, text)
    except SmartsupportError as exc:  # the answer still tells the agent
        log.warning("could not note the failed macro: %s", exc)


async def _record(
    services: Services, user: StaffUser, conversation: Any, macro: Macro, outcome: Outcome
) -> None:
    run = outcome.run
    steps = [
        {k: v for k, v in s.items() if k in ("step", "ok", "action", "outcome", "status",
                                              "error", "order_id", "message_id")}
        for s in run.steps
    ]  # fmt: skip
    await audited.action(
        services.store,
        "macro.run",
        by=user,
        target=f"conversation:{conversation.id}",
        workspace_id=conversation.workspace_id,
        details={"macro": macro.id, "name": macro.spec.name, "run_id": run.run_id,
                 "state": run.state, "steps": steps},
    )  # fmt: skip
