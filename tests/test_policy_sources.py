"""Policy: conditions on the standing of the source (uploader) that posted an item."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from jikimi.cases.types import Source, SourceRisk
from jikimi.domain import Action, Priority, Synthetic
from jikimi.errors import ConfigError
from jikimi.pipeline.policy import Policy, Rule, load_rules

NONE = Synthetic.from_evidence([])


def standing(confirmed: int, score: float = 0.5, handle: str = "u-77") -> SourceRisk:
    source = Source(
        id="src_1", tenant_id="ten_1", host_id=None, handle=handle, created_at=datetime.now(UTC)
    )
    return SourceRisk(
        source=source,
        items=confirmed,
        confirmed=confirmed,
        reappeared=0,
        items_last_7d=0,
        score=score,
        reasons=("x",),
    )


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.from_file(load_rules())


def test_bundled_rule_holds_everything_from_a_source_with_three_confirmed(
    policy: Policy,
) -> None:
    d = policy.decide(None, NONE, [], source=standing(3))
    assert d.action is Action.HOLD
    assert d.priority is Priority.HIGH
    assert d.rules == ("risky-source",)
    assert "u-77 (3 confirmed item(s), risk 0.50)" in d.reasons[0]


@pytest.mark.parametrize("src", [None, standing(2), standing(0, score=1.0)])
def test_fewer_confirmed_or_no_source_does_not_fire(policy: Policy, src: SourceRisk | None) -> None:
    d = policy.decide(None, NONE, [], source=src)
    assert d.action is Action.ALLOW
    assert d.rules == ()


def test_risk_score_condition_and_conjunction() -> None:
    rule = Rule(
        name="risky",
        source_risk_at_least=0.7,
        source_confirmed_at_least=1,
        action=Action.REMOVE,
        reason="from {source}",
    )
    policy = Policy([rule])
    assert policy.decide(None, NONE, [], source=standing(1, 0.7)).action is Action.REMOVE
    assert policy.decide(None, NONE, [], source=standing(1, 0.69)).action is Action.ALLOW
    assert policy.decide(None, NONE, [], source=standing(0, 0.9)).action is Action.ALLOW
    assert policy.decide(None, NONE, []).action is Action.ALLOW


def test_decision_names_every_rule_that_fired(policy: Policy) -> None:
    from jikimi.domain import BankKind, Match, SignalKind

    m = Match(
        bank="TD", signal=SignalKind.PDQ, distance=0, entry="ent_1", bank_kind=BankKind.TAKEDOWN
    )
    d = policy.decide(None, NONE, [m], source=standing(4))
    assert d.action is Action.REMOVE
    assert d.rules == ("takedown-match", "risky-source")
    assert len(d.reasons) == 2


def test_bad_source_conditions_are_refused(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "rules.toml"
    path.write_text(
        '[[rule]]\nname = "x"\nsource_confirmed_at_least = 0\naction = "hold"\nreason = "r"\n'
    )
    with pytest.raises(ConfigError, match="source_confirmed_at_least"):
        load_rules(path)
    path.write_text(
        '[[rule]]\nname = "x"\nsource_risk_at_least = 1.5\naction = "hold"\nreason = "r"\n'
    )
    with pytest.raises(ConfigError, match="source_risk_at_least"):
        load_rules(path)
