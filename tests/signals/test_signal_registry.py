"""The registry of signal types and the curated public API of ``jikimi.signals``."""

from __future__ import annotations

import doctest

import pytest

import jikimi.signals
from jikimi.domain import SignalKind
from jikimi.errors import ConfigError
from jikimi.signals import (
    Md5Signal,
    PdqSignal,
    Sha256Signal,
    SignalType,
    base,
    check_unique,
    distance,
    signal_type,
    signal_types,
)


def test_registry_holds_the_built_in_types_with_unique_names() -> None:
    types = signal_types()
    assert {PdqSignal, Md5Signal, Sha256Signal} <= set(types)
    names = [t.get_name() for t in types]
    assert len(names) == len(set(names))


def test_lookup_by_name_finds_each_registered_type() -> None:
    for t in signal_types():
        assert signal_type(t.get_name()) is t


def test_every_kind_has_a_registered_type() -> None:
    assert {t.get_name() for t in signal_types()} == set(SignalKind)


def test_lookup_of_an_unregistered_name_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jikimi.signals, "signal_types", lambda: (PdqSignal,))
    with pytest.raises(ConfigError, match="md5"):
        signal_type(SignalKind.MD5)


def test_a_repeated_name_is_refused_naming_both_types() -> None:
    class Impostor(Md5Signal):
        """Same storage key as MD5: would mix two kinds of hashes in one bank column."""

    with pytest.raises(ConfigError) as caught:
        check_unique((PdqSignal, Md5Signal, Impostor))
    assert "Md5Signal" in caught.value.message and "Impostor" in caught.value.message
    assert check_unique((PdqSignal, Md5Signal)) == (PdqSignal, Md5Signal)


def test_public_api_does_not_drift() -> None:
    public = {
        name
        for name, value in vars(jikimi.signals).items()
        if not name.startswith("_")
        and (isinstance(value, type) or callable(value))
        and getattr(value, "__module__", "").startswith("jikimi.signals")
    }
    assert public == set(jikimi.signals.__all__)


def test_signal_types_are_never_instantiated() -> None:
    with pytest.raises(TypeError):
        SignalType()  # type: ignore[abstract]


@pytest.mark.parametrize("module", [base, distance])
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, raise_on_error=False)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0
