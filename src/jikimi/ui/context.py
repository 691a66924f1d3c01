"""What the pages need of the app: the API's context, plus the UI's own services.

The API's context (built by its lifespan) is reached through ``app.state.context``
and read through :class:`AppContext`, the part of it the pages use; the UI's
services (accounts, reviews) are built from it on first use, once per app.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

from jikimi.config import Settings
from jikimi.media import MediaLimits
from jikimi.services import BankService, KeyService
from jikimi.services.accounts import AccountService
from jikimi.services.casework import Casework
from jikimi.services.resetmail import SmtpMailer
from jikimi.services.reviews import HeldMedia, ReviewService
from jikimi.store import Store


class AppContext(Protocol):
    """The services of one process as the pages use them (the API's context has them)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> Store: ...

    @property
    def keys(self) -> KeyService: ...

    @property
    def banks(self) -> BankService: ...

    @property
    def casework(self) -> Casework: ...


@dataclass(frozen=True)
class UiServices:
    app: AppContext
    accounts: AccountService
    reviews: ReviewService
    held: HeldMedia

    @classmethod
    def build(cls, app: AppContext) -> UiServices:
        sealer = app.casework.cases.sealer
        held = HeldMedia(app.store, sealer, app.settings)
        reviews = ReviewService(
            app.store,
            held,
            app.banks,
            app.casework.cases,
            MediaLimits.from_settings(app.settings),
            app.settings,
        )
        mailer = SmtpMailer.from_settings(app.settings)
        return cls(app, AccountService(app.store, sealer, mailer), reviews, held)


_lock = threading.Lock()


def services(request: Request) -> UiServices:
    state = request.app.state
    built: UiServices | None = getattr(state, "ui_services", None)
    context: AppContext = state.context
    if built is None or built.app is not context:  # a new lifespan: a new context
        with _lock:
            built = UiServices.build(context)
            state.ui_services = built
    return built
