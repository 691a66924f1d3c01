"""One place that builds the casework services from settings (API, CLI and workers alike).

Keys come from the data directory unless settings name other files: the AES key
that seals evidence, contact details and hosts' secrets, and the Ed25519 key that
signs evidence bundles. Capture refuses every non-public address except the
networks ``capture_allow_networks`` names.
"""

from __future__ import annotations

from dataclasses import dataclass

from jikimi.config import Settings
from jikimi.evidence import InstanceKey, Sealer, load_or_create_secret
from jikimi.fetching import AddressPolicy, Resolver, SafeFetcher
from jikimi.media import MediaLimits
from jikimi.notices import NoticeRenderer, Sender
from jikimi.services.cases import CaseService, HostService, ItemScanner
from jikimi.services.delivery import NoticeDeliverer, SmtpConfig
from jikimi.services.notices import NoticeOptions, NoticeService
from jikimi.services.rechecks import AddToBank, Rechecker
from jikimi.store import Store


@dataclass
class Casework:
    """The casework services of one process, sharing keys, fetcher and templates."""

    hosts: HostService
    cases: CaseService
    notices: NoticeService
    renderer: NoticeRenderer
    fetcher: SafeFetcher
    instance_key: InstanceKey
    store: Store
    settings: Settings

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: Store,
        *,
        scanner: ItemScanner | None = None,
        resolver: Resolver | None = None,
    ) -> Casework:
        keys = settings.data_dir / "keys"
        sealer = Sealer(load_or_create_secret(settings.evidence_key_path or keys / "evidence.key"))
        instance = InstanceKey.load_or_create(
            settings.instance_key_path or keys / "instance-ed25519.pem"
        )
        fetcher = SafeFetcher(
            AddressPolicy.allowing(settings.capture_allow_networks),
            resolver=resolver,
            max_bytes=settings.capture_max_bytes,
            timeout_s=settings.capture_timeout_s,
        )
        overrides = settings.data_dir / "notices"
        renderer = NoticeRenderer(
            overrides if overrides.is_dir() else None, deadline_hours=settings.deadline_hours
        )
        sender = Sender(settings.notice_from_name, settings.notice_from_email)
        hosts = HostService(store, sealer)
        return cls(
            hosts=hosts,
            cases=CaseService(
                store, sealer, fetcher, scanner, limits=MediaLimits.from_settings(settings)
            ),
            notices=NoticeService(
                store, renderer, NoticeOptions(sender, four_eyes=settings.notice_four_eyes)
            ),
            renderer=renderer,
            fetcher=fetcher,
            instance_key=instance,
            store=store,
            settings=settings,
        )

    def deliverer(self) -> NoticeDeliverer:
        s = self.settings
        return NoticeDeliverer(
            self.store,
            sender=Sender(s.notice_from_name, s.notice_from_email),
            smtp=SmtpConfig(
                s.smtp_host, s.smtp_port, s.smtp_starttls, s.smtp_user, s.smtp_password
            ),
            fetcher=self.fetcher,
            api_secret=self.hosts.api_secret,
            deadline_hours=self.renderer.deadline_hours,
        )

    def rechecker(self, add_to_bank: AddToBank | None = None) -> Rechecker:
        return Rechecker(
            self.store,
            self.fetcher,
            MediaLimits.from_settings(self.settings),
            add_to_bank=add_to_bank,
        )
