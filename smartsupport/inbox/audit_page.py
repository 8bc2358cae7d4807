"""``/inbox/audit``: the audit log of the admin's workspaces, newest first, with the state of
the hash chain (``audit.verify``) at the top. Read-only: the log cannot be edited."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from smartsupport import audit
from smartsupport.inbox.pages import _base, _page_user, render, services_of
from smartsupport.privacy_api import visible_entries

router = APIRouter(include_in_schema=False)
SHOWN = 200  # newest entries on the page; the admin API pages through all of them


@router.get("/inbox/audit")
async def audit_page(request: Request) -> Response:
    user = await _page_user(request, "admin")
    if isinstance(user, Response):
        return user
    found = await visible_entries(request, user, user.workspaces, limit=SHOWN, newest_first=True)
    chain = await audit.verify(services_of(request).store)  # type: ignore[arg-type]
    return render(
        "audit.html",
        **_base(request, user, "audit"),
        entries=[e.as_json() for e in found],
        chain=chain,
        shown=SHOWN,
    )
