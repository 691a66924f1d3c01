"""Render a takedown notice in the host's language from editable templates.

The bundled defaults are one Jinja2 template (``notice.txt.j2``) and one strings
file per language (``locales/<lang>.toml``: the sentences, and a paragraph per
legal basis). An operator overrides either by putting a file of the same name in
``<data_dir>/notices/`` (``notices/locales/ko.toml``, ``notices/notice.txt.j2``);
what is not overridden falls back to the bundled file. An unknown language gives
the English text and says so (``RenderedNotice.fallback``), so a notice is never
blocked for want of a translation.

A notice lists each item's URL, hashes, capture time and evidence digest; it never
carries the image itself.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import jinja2

from jikimi.errors import ConfigError, InvalidInput

BUNDLED = Path(__file__).resolve().parent
LANGUAGES: tuple[str, ...] = ("ko", "en", "ja", "zh", "ru", "es", "fr", "de", "vi")
FALLBACK = "en"
_ALIASES = {"zh-hans": "zh", "zh-cn": "zh", "zh-sg": "zh", "kr": "ko", "jp": "ja"}


class LegalBasis(StrEnum):
    """The rules a notice invokes; each adds its own paragraph and deadline."""

    KCSC = "kcsc"  # Korea Communications Standards Commission request
    TAKE_IT_DOWN = "take_it_down"  # US TAKE IT DOWN Act (48 h)
    DSA_ART16 = "dsa_art16"  # EU Digital Services Act, Art. 16 notice

    @classmethod
    def parse(cls, text: str) -> LegalBasis:
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(b.value for b in cls)
            raise InvalidInput(f"unknown legal basis {text!r} (known: {known})") from None


DEFAULT_DEADLINE_HOURS: Mapping[LegalBasis, int] = {
    LegalBasis.KCSC: 24,
    LegalBasis.TAKE_IT_DOWN: 48,
    LegalBasis.DSA_ART16: 72,
}
"""Hours from sending to the deadline; settings may change them (``deadline_hours``)."""


def normalise_language(tag: str) -> tuple[str, bool]:
    """``(language, fallback)``: a supported language for a BCP 47 tag, or English."""
    lowered = tag.strip().lower().replace("_", "-")
    if lowered in _ALIASES:
        return _ALIASES[lowered], False
    primary = lowered.split("-", 1)[0]
    if primary in LANGUAGES:
        return primary, False
    return FALLBACK, True


@dataclass(frozen=True)
class NoticeItem:
    """What a notice says about one item."""

    url: str | None
    signals: Sequence[Mapping[str, str]] = ()
    source: str | None = None
    captured_at: str | None = None
    evidence_sha256: str | None = None


@dataclass(frozen=True)
class Sender:
    """Who sends the notice (the tenant's organisation) and where replies go."""

    name: str
    email: str


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    body: str
    language: str
    fallback: bool
    deadline_hours: int
    bases: tuple[LegalBasis, ...] = field(default=())


class NoticeRenderer:
    """Loads templates once; renders any number of notices."""

    def __init__(
        self,
        overrides: Path | None = None,
        deadline_hours: Mapping[str, int] | None = None,
    ) -> None:
        self._dirs = [d for d in (overrides, BUNDLED) if d is not None]
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(d) for d in self._dirs]),
            autoescape=False,  # plain text for e-mail and JSON APIs; never rendered as HTML
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        self._strings: dict[str, dict[str, Any]] = {}
        hours = {b: DEFAULT_DEADLINE_HOURS[b] for b in LegalBasis}
        for key, value in (deadline_hours or {}).items():
            hours[LegalBasis.parse(key)] = int(value)
        self.deadline_hours: Mapping[LegalBasis, int] = hours

    def strings(self, language: str) -> dict[str, Any]:
        """The sentences of ``language``: the override file over the bundled one."""
        if language not in self._strings:
            merged: dict[str, Any] = {}
            for directory in reversed(self._dirs):  # bundled first, overrides on top
                path = directory / "locales" / f"{language}.toml"
                if path.is_file():
                    try:
                        loaded = tomllib.loads(path.read_text(encoding="utf-8"))
                    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                        raise ConfigError(f"notice strings {path.name}: {exc}") from exc
                    bases = {**merged.get("bases", {}), **loaded.get("bases", {})}
                    merged.update(loaded)
                    merged["bases"] = bases
            self._strings[language] = merged
        return self._strings[language]

    def render(
        self,
        *,
        language: str,
        host_name: str,
        items: Sequence[NoticeItem],
        bases: Sequence[LegalBasis],
        sender: Sender,
        notice_id: str,
        case_number: str,
        follow_up: Mapping[str, str] | None = None,
    ) -> RenderedNotice:
        """The notice's subject and text. ``follow_up`` (``notice``, ``sent``, ``deadline``)
        makes it a reminder of an earlier notice whose deadline passed."""
        lang, fallback = normalise_language(language)
        strings = self.strings(lang)
        if not strings:
            lang, fallback, strings = FALLBACK, True, self.strings(FALLBACK)
        english = self.strings(FALLBACK)
        basis_blocks = []
        for basis in bases:
            text = strings["bases"].get(basis.value) or english["bases"][basis.value]
            basis_blocks.append(
                {"title": text["title"], "text": text["text"], "hours": self.deadline_hours[basis]}
            )
        template = self._env.get_template("notice.txt.j2")
        body = template.render(
            t={k: v for k, v in {**english, **strings}.items() if k != "bases"},
            host={"name": host_name},
            items=items,
            bases=basis_blocks,
            sender=sender,
            notice_id=notice_id,
            case_number=case_number,
            follow_up=follow_up,
        )
        subject = str(strings.get("subject", english["subject"])).replace(
            "{count}", str(len(items))
        )
        if follow_up:
            subject = str(strings.get("follow_up_subject", english["follow_up_subject"])) + subject
        hours = min((self.deadline_hours[b] for b in bases), default=48)
        return RenderedNotice(subject, body.strip() + "\n", lang, fallback, hours, tuple(bases))
