"""Notices render in every bundled language, with each basis, and never carry images."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jikimi.notices import (
    LANGUAGES,
    LegalBasis,
    NoticeItem,
    NoticeRenderer,
    Sender,
    normalise_language,
)

ITEMS = [
    NoticeItem(
        url="https://host.example/p/123.jpg",
        signals=[{"type": "pdq", "value": "f" * 64}, {"type": "sha256", "value": "a" * 64}],
        source="@channel_name",
        captured_at="2026-12-01T10:00:00+00:00",
        evidence_sha256="b" * 64,
    ),
    NoticeItem(url=None, signals=[{"type": "md5", "value": "c" * 32}]),
]
SENDER = Sender("Seoul Digital Sexual Crime Support Center", "help@center.example")


def _render(renderer: NoticeRenderer, language: str, bases: list[LegalBasis]) -> str:
    out = renderer.render(
        language=language,
        host_name="Example Host",
        items=ITEMS,
        bases=bases,
        sender=SENDER,
        notice_id="notice_1",
        case_number="2026-000001",
    )
    assert not out.fallback
    return out.subject + "\n" + out.body


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_renders_every_basis(language: str) -> None:
    renderer = NoticeRenderer()
    text = _render(renderer, language, list(LegalBasis))
    assert "https://host.example/p/123.jpg" in text
    assert "f" * 64 in text and "c" * 32 in text and "b" * 64 in text
    assert "@channel_name" in text
    assert "Example Host" in text and "notice_1" in text
    assert "{" not in text  # every placeholder filled
    for basis in LegalBasis:
        strings = renderer.strings(language)["bases"][basis.value]
        assert strings["title"] in text
    assert "24" in text and "48" in text and "72" in text  # each basis's own deadline
    if language != "en":
        assert renderer.strings("en")["good_faith"] not in text  # really translated


def test_unknown_language_falls_back_to_english_and_says_so() -> None:
    out = NoticeRenderer().render(
        language="tlh",
        host_name="H",
        items=ITEMS,
        bases=[LegalBasis.DSA_ART16],
        sender=SENDER,
        notice_id="n",
        case_number="c",
    )
    assert out.fallback and out.language == "en"
    assert "Article 16" in out.body


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("ko-KR", ("ko", False)), ("zh-Hans", ("zh", False)), ("EN_us", ("en", False)),
     ("xx", ("en", True))],
)  # fmt: skip
def test_language_tags(tag: str, expected: tuple[str, bool]) -> None:
    assert normalise_language(tag) == expected


def test_overrides_replace_sentences_and_the_template(tmp_path: Path) -> None:
    (tmp_path / "locales").mkdir()
    (tmp_path / "locales" / "en.toml").write_text('closing = "Regards from the override."\n')
    text = _render(NoticeRenderer(tmp_path), "en", [LegalBasis.TAKE_IT_DOWN])
    assert "Regards from the override." in text
    assert "TAKE IT DOWN" in text  # the rest still comes from the bundled file
    (tmp_path / "notice.txt.j2").write_text("CUSTOM {{ items | length }} {{ notice_id }}\n")
    assert "CUSTOM 2 notice_1" in _render(NoticeRenderer(tmp_path), "en", [])


def test_deadlines_are_configurable() -> None:
    out = NoticeRenderer(deadline_hours={"kcsc": 12}).render(
        language="ko",
        host_name="H",
        items=ITEMS,
        bases=[LegalBasis.KCSC],
        sender=SENDER,
        notice_id="n",
        case_number="c",
    )
    assert out.deadline_hours == 12 and "12시간" in out.body


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("regulator", ["KCSC <report@kcsc.example>", ""])
def test_every_language_has_its_own_follow_up_paragraph(language: str, regulator: str) -> None:
    """A reminder after a missed deadline is in the host's language, names the notice,
    when it was sent and the deadline, and (when the host has one) the regulator copied."""
    renderer = NoticeRenderer()
    out = renderer.render(
        language=language,
        host_name="Example Host",
        items=ITEMS,
        bases=[LegalBasis.KCSC],
        sender=SENDER,
        notice_id="notice_2",
        case_number="2026-000001",
        follow_up={
            "notice": "notice_1",
            "sent": "2026-12-01 10:00",
            "deadline": "2026-12-02 10:00",
            "regulator": regulator,
        },
    )
    strings, english = renderer.strings(language), renderer.strings("en")
    assert not out.fallback and out.language == language
    assert out.subject.startswith(strings["follow_up_subject"])
    longest = max(re.split(r"\{\w+\}", strings["follow_up"]), key=len)
    assert len(longest) > 10 and longest in out.body  # its own text, from its own file
    assert "notice_1" in out.body and "2026-12-01 10:00" in out.body
    assert "2026-12-02 10:00" in out.body and "{" not in out.body
    if language != "en":
        for key in ("follow_up", "follow_up_subject", "follow_up_regulator"):
            assert strings[key] != english[key], key  # translated, not the English fallback
    said = strings["follow_up_regulator"].replace("{regulator}", regulator)
    assert (said in out.body) is bool(regulator)
