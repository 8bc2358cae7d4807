"""Everything the inbox serves, as one router for ``create_app``:

/inbox, /inbox/conversations/{id}, /inbox/team, /inbox/admin     pages (pages.py)
/inbox/audit                                                      audit log (audit_page.py)
/inbox/fragments/...                                              HTML the script swaps in
/api/v1/inbox/...                                                 staff JSON API (api.py)
/api/v1/inbox/ws                                                  agent WebSocket (socket.py)
/api/v1/conversations/{id}/queue|csat                             customer side (customer.py)
"""

from __future__ import annotations

from fastapi import APIRouter

from smartsupport.inbox import api, audit_page, customer, pages, socket, team_api

router = APIRouter()
router.include_router(pages.router)
router.include_router(api.router)
router.include_router(team_api.router)
router.include_router(socket.router)
router.include_router(customer.router)
router.include_router(audit_page.router)  # /inbox/audit
