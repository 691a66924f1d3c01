"""``/v1/webhook``: an admin sets, reads and removes its tenant's signed webhook.

The same service as ``jikimi webhook set|show|remove`` (admins only, one webhook
per tenant, the caller's own: the path names nothing another tenant could
address). The signing secret is in the response of ``PUT`` and nowhere else.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from jikimi.actions import EVENTS
from jikimi.actions.webhooks import WebhookInfo, WebhookService
from jikimi.api.deps import ContextDep, PrincipalDep
from jikimi.api.problems import error_responses
from jikimi.api.schemas import WebhookPublic, WebhookSetBody, WebhookSetPublic

router = APIRouter(prefix="/v1/webhook", tags=["webhooks"])


def _webhooks(context: ContextDep) -> WebhookService:
    return context.casework.webhooks


WebhooksDep = Annotated[WebhookService, Depends(_webhooks)]


def _public(info: WebhookInfo) -> WebhookPublic:
    return WebhookPublic(
        url=info.url, events=list(info.events), enabled=info.enabled, updated_at=info.updated_at
    )


@router.get(
    "",
    response_model=WebhookPublic,
    summary="The tenant's webhook (never its secret)",
    responses=error_responses(401, 403, 404),
)
def get_webhook(principal: PrincipalDep, webhooks: WebhooksDep) -> WebhookPublic:
    return _public(webhooks.get(principal))


@router.put(
    "",
    response_model=WebhookSetPublic,
    summary="Set (or replace) the webhook; its secret is shown in this response only",
    responses=error_responses(401, 403, 413, 422),
)
def set_webhook(
    body: WebhookSetBody, principal: PrincipalDep, webhooks: WebhooksDep
) -> WebhookSetPublic:
    events = EVENTS if body.events is None else tuple(body.events)  # [] is refused
    done = webhooks.set(principal, body.url, events)
    return WebhookSetPublic(webhook=_public(done.info), secret=done.secret)


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove the webhook (queued deliveries are dropped)",
    responses=error_responses(401, 403, 404),
)
def remove_webhook(principal: PrincipalDep, webhooks: WebhooksDep) -> Response:
    webhooks.remove(principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
