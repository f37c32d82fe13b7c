"""The clinician's inbox: one server-rendered page (Jinja2) of the triage queue; no CDN, no script."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from ..access import TOKEN_COOKIE, Clinician, DbDep, HubDep, queue_for
from ..csrf import csrf_token

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.globals["csrf_token"] = csrf_token  # the forms in _item_actions.html
inbox_router = APIRouter(tags=["inbox"])


@inbox_router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, session: DbDep, hub: HubDep, who: Clinician) -> HTMLResponse:
    """The caller's queue as a page: interruptive alerts first, then the digest, by priority."""
    now = dt.datetime.now(dt.UTC)
    delivery = queue_for(session, hub, who, now)
    return templates.TemplateResponse(request, "inbox.html", {"who": who.name, "now": now,
                                                              "interruptive": delivery.interruptive,
                                                              "digest": delivery.digest})


@inbox_router.get("/inbox/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    """A form asking for the clinician's token."""
    return templates.TemplateResponse(request, "login.html", {})


@inbox_router.post("/inbox/login")
async def login(request: Request) -> RedirectResponse:
    """Keep the submitted token in an HttpOnly, SameSite=Strict cookie and go to the inbox."""
    token = parse_qs((await request.body()).decode("utf-8", "replace")).get("token", [""])[0].strip()
    response = RedirectResponse("/inbox", status_code=303)
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response
