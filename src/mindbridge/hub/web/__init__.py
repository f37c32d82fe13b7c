"""The clinician's inbox: server-rendered pages (Jinja2) of the triage queue, sign-in and each patient (`patient`);
no CDN, no script."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ...summary import TIERS
from .. import audit
from ..access import TOKEN_COOKIE, Clinician, DbDep, HubDep, queue_for
from ..auth import AccessDenied, NotAuthenticated, authenticate, require
from ..csrf import csrf_token
from ..directory import people, refresh
from ..ehr import connection_of
from ..triage import QueueItem

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.globals["csrf_token"] = csrf_token  # the forms in _item_actions.html
inbox_router = APIRouter(tags=["inbox"])
PAGES = ("/inbox", "/directives/")  # the routes a person opens in a browser


SORTS = {"priority": None, "due": lambda i: i.due, "patient": lambda i: i.patient}


@inbox_router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, session: DbDep, hub: HubDep, who: Clinician, tier: str = "", rule: str = "",
          patient: str = "", sort: str = "priority") -> HTMLResponse:
    """The caller's queue as a page: interruptive alerts first, then the digest, by priority (or as sorted),
    filtered by tier, rule or patient; each row says why it fired and links to the patient's page."""
    now = dt.datetime.now(dt.UTC)
    delivery = queue_for(session, hub, who, now)
    everyone = [i.patient for i in delivery.interruptive + delivery.digest]
    if refresh(session, connection_of(request.app).client, everyone, now):
        session.commit()
    names = people(session, everyone)

    def shown(items: list[QueueItem]) -> list[QueueItem]:
        kept = [i for i in items if (not tier or i.tier == tier) and (not rule or rule in i.rule_ids)
                and (not patient or i.patient == patient)]
        key = SORTS.get(sort)
        return sorted(kept, key=key) if key is not None else kept

    return templates.TemplateResponse(request, "inbox.html", {
        "who": who.name, "now": now, "interruptive": shown(delivery.interruptive), "digest": shown(delivery.digest),
        "names": names, "tiers": TIERS, "rules": [r.id for r in hub.pathway.pathway.rules],
        "chosen": {"tier": tier, "rule": rule, "patient": patient, "sort": sort},
        "patients": sorted({(names[p].name, p) for p in everyone})})


def is_page(request: Request) -> bool:
    """Whether a request is for one of the inbox's pages (answered with HTML, not JSON)."""
    return request.url.path.startswith(PAGES)


def _safe_next(target: str) -> str:
    """Where to go after signing in: a page of this inbox only (never another site)."""
    return target if target.startswith(PAGES) and not target.startswith("//") else "/inbox"


@inbox_router.get("/inbox/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/inbox") -> HTMLResponse:
    """A form asking for the clinician's token."""
    return templates.TemplateResponse(request, "login.html", {"next": _safe_next(next), "error": ""})


@inbox_router.post("/inbox/login", response_model=None)
async def login(request: Request, session: DbDep) -> Response:
    """Check the submitted token; if it names a clinician, keep it in an HttpOnly, SameSite=Strict cookie and go
    on, else show the form again saying so (audited either way)."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token, target = form.get("token", [""])[0].strip(), _safe_next(form.get("next", ["/inbox"])[0])
    try:
        who = authenticate(session, f"Bearer {token}")
        require(who, "clinician")
    except (NotAuthenticated, AccessDenied):
        audit.record(session, "unknown", "auth.login", "Inbox", "denied", {"via": "inbox"})
        session.commit()
        return templates.TemplateResponse(request, "login.html", {"next": target, "error": "That token is not "
                                           "a clinician's token of this hub."}, status_code=401)
    audit.record(session, who.name, "auth.login", "Inbox", "ok", {"via": "inbox"})
    session.commit()
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response
