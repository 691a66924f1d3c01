"""The victim page: report images without an account, hashed on her own device.

``router`` serves ``/victim`` (report), ``/victim/status`` (her case by number and
PIN), ``/victim/privacy`` (what is sent, what is kept, for how long) and the
page's own scripts and styles. See :mod:`jikimi.ui.victim.routes`.
"""

from jikimi.ui.victim.routes import router

__all__ = ["router"]
