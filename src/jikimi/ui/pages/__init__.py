"""One module per area of the pages; each has its router (all use :class:`UiRoute`)."""

from jikimi.ui.pages import account, admin, auth, desk, home, review

ROUTERS = [auth.router, account.router, home.router, review.router, desk.router, admin.router]

__all__ = ["ROUTERS"]
