"""Everything the inbox serves, as one router for ``create_app``:

/inbox, /inbox/conversations/{id}, /inbox/team, /inbox/admin     pages (pages.py)
/inbox/audit                                                      audit log (audit_page.py)
/inbox/resolutions/{workspace}/...                                verdicts (resolution_page.py)
/inbox/fragments/...                                              HTML the script swaps in
/api/v1/inbox/...                                                 staff JSON API (api.py)
/api/v1/inbox/ws                                                  agent WebSocket (socket.py)
/api/v1/conversations/{id}/queue|csat                             customer side (customer.py)
"""

from __future__ import annotations

from fastapi import APIRouter

from smartsupport import analytics_api
from smartsupport.inbox import (
    api,
    attachments,
    audit_page,
    copilot_routes,
    customer,
    dashboard,
    feedback_routes,
    history_api,
    history_page,
    macro_api,
    macro_page,
    pages,
    resolution_page,
    socket,
    team_api,
)
from smartsupport.review import api as review_api
from smartsupport.review import page as review_page

router = APIRouter()
router.include_router(pages.router)
router.include_router(api.router)
router.include_router(attachments.router)  # files: open and send
router.include_router(team_api.router)
router.include_router(socket.router)
router.include_router(customer.router)
router.include_router(audit_page.router)  # /inbox/audit
router.include_router(review_page.router)  # /inbox/review (review/page.py)
router.include_router(review_api.router)  # /api/v1/review/... (review/api.py)
router.include_router(dashboard.router)  # /inbox/dashboard (analytics)
router.include_router(resolution_page.router)  # /inbox/resolutions/... (reviewer verdicts)
router.include_router(history_api.router)  # /api/v1/inbox/search, tags (issue 16)
router.include_router(history_page.router)  # /inbox/history (issue 16)
router.include_router(copilot_routes.router)  # summary, drafts, articles (issue 16)
router.include_router(macro_api.router)  # macros and order cards (issue 16)
router.include_router(macro_page.router)  # /inbox/macros (issue 16)
router.include_router(analytics_api.router)  # /api/v1/analytics/...
router.include_router(feedback_routes.visitor_router)  # thumbs on answers
router.include_router(feedback_routes.staff_router)  # an agent flags an answer
