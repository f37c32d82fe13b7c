"""CSRF protection for the inbox page's forms, which authenticate by cookie.

Requests with an `Authorization: Bearer` header cannot be forged across sites (a browser never adds that
header by itself), so only cookie-authenticated form posts need this. Three independent layers:

1. the session cookie is HttpOnly and SameSite=Strict, so modern browsers do not send it cross-site;
2. `Sec-Fetch-Site` (sent by every current browser) must be same-origin, and `Origin`, when sent, must be
   this server's own origin;
3. each form carries a synchronizer token, HMAC-SHA256 keyed by the session's bearer token: a page that
   cannot read the cookie (every other origin) cannot compute it, and it needs no server-side state, so
   it works across worker processes and restarts. It changes whenever the clinician's token changes.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from .access import TOKEN_COOKIE
from .auth import AccessDenied

FIELD = "csrf"
_LABEL = b"mindbridge inbox form"


def csrf_token(request: Request) -> str:
    """The form token of the request's signed-in session ("" when there is no session cookie)."""
    session = request.cookies.get(TOKEN_COOKIE, "")
    if not session:
        return ""
    return hmac.new(session.encode("utf-8"), _LABEL, hashlib.sha256).hexdigest()


def check_form(request: Request, submitted: str) -> None:
    """Refuse (AccessDenied) a form post that came from another site or lacks the session's token."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise AccessDenied(f"form posted from another site (Sec-Fetch-Site: {site})")
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own:
        raise AccessDenied(f"form posted from origin {origin}, not {own}")
    expected = csrf_token(request)
    if not expected or not hmac.compare_digest(submitted.encode("utf-8"), expected.encode("utf-8")):
        raise AccessDenied("the form's CSRF token is missing or does not match the session; reload the inbox")
