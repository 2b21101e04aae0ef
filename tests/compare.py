"""Comparing answers made in different processes: every field exactly, scores to a tolerance.

Two processes (a Ray worker and the driver, a Serve replica and ``qa ask``) may sum the same floats in another
order: vectors then agree to about 1e-6 and a score printed to six places may differ in its last digit.
"""

from __future__ import annotations

import pytest


def assert_same_answer(got: dict, want: dict, abs_tol: float = 1e-3) -> None:
    """``got`` and ``want`` (``answer_to_dict`` outputs) equal, their floats within ``abs_tol`` of each other."""
    assert _without_floats(got) == _without_floats(want)
    assert _floats(got) == pytest.approx(_floats(want), abs=abs_tol)


def _without_floats(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_floats(v) for v in value]
    return None if isinstance(value, float) else value


def _floats(value: object) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _floats(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _floats(v)]
    return [value] if isinstance(value, float) else []
