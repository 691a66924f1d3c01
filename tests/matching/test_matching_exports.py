"""The public surface of ``jikimi.matching`` is exactly ``__all__`` (it must not drift)."""

from __future__ import annotations

import jikimi.matching as matching


def test_all_names_exist_and_nothing_public_is_missing() -> None:
    public = {
        name
        for name, value in vars(matching).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("jikimi.matching")
    }
    assert set(matching.__all__) >= public
    assert all(hasattr(matching, name) for name in matching.__all__)
