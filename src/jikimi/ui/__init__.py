"""The web pages: a reviewer's queue, a caseworker's desk, the admin pages.

Server-rendered (FastAPI + Jinja2) with a few small ES modules, every asset
served from ``/ui/static`` by jikimi itself, and ``Content-Security-Policy:
default-src 'self'`` on every page, so no page can load or send anything
elsewhere (an air-gapped server works as well as any)::

    browser ─► SecurityHeaders (CSP, no framing, no referrer)
            ─► pages/* (UiRoute: a JikimiError becomes an error page)
               ─► auth: session cookie ─► AccountService.session ─► Principal
               ─► services (the same permissions as the API) ─► store

People sign in with accounts (:mod:`jikimi.services.accounts`); API keys stay
for machines. :func:`mount` adds the pages to the API's app; the pages reach the
services through the app's context, as the API's routes do.
"""

from jikimi.ui.app import mount

__all__ = ["mount"]
