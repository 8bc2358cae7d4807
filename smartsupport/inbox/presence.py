"""Agent presence: an agent starts each sign-in with ``SMARTSUPPORT_AGENT_STATUS_AT_SIGN_IN``
(online by default), so nobody signs in and is then forgotten as "offline"; the inbox page
sets an idle agent away after ``SMARTSUPPORT_AGENT_IDLE_MINUTES`` and back online when they
return (static/inbox.js reads the minutes from the page).

"Each sign-in" is each staff session: the first inbox page of a session applies the
status once (a backplane key per session id), so an agent who then chooses away or offline
keeps their choice for the rest of the session.
"""

from __future__ import annotations

from smartsupport.inbox.assignment import refresh, set_agent_status
from smartsupport.inbox.store import InboxStore
from smartsupport.services import Services
from smartsupport.staff import StaffUser

SESSION_SECONDS = 14 * 24 * 3600  # longer than any staff session lives


async def start_of_session(services: Services, user: StaffUser) -> None:
    """Apply the sign-in status on the first inbox page of this session (once)."""
    if not user.session_id:
        return  # an API key acts for the person: no sign-in happened
    key = f"inbox:session-started:{user.session_id}"
    if await services.backplane.get(key) is not None:
        return
    await services.backplane.set(key, b"1", SESSION_SECONDS)
    wanted = services.settings.agent_status_at_sign_in
    if (await InboxStore(services.store).agent(user.id)).status == wanted:
        return
    await set_agent_status(services, user, wanted)
    for workspace_id in user.workspaces:
        await refresh(services, workspace_id)  # a new online agent may take an offer
