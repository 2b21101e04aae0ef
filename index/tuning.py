"""Settings fitted on a user's own questions, kept with the index (the commit point's ``tuning``).

The index stores them as an opaque JSON object: what they mean is up to the packages that fit and read
them (``qa eval --fit`` keeps the "not found" threshold there, see ``qa.tuning``). This module only checks
that they are plain JSON, so that a commit point is never written with something JSON cannot hold.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from index.errors import IndexCorruptError


def checked_tuning(values: Any) -> dict[str, Any]:
    """A private deep copy of ``values``, which must be a JSON object of plain JSON values.

    Raises:
        ValueError: ``values`` is not a dict, or holds something JSON cannot hold (NaN, a set, an object).

    Example:
        >>> checked_tuning({"threshold": {"value": 0.5}})
        {'threshold': {'value': 0.5}}
    """
    if not isinstance(values, dict):
        raise ValueError(f"tuning must be a dict (a JSON object), got {type(values).__name__}")
    try:
        json.dumps(values, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"tuning must hold only JSON values: {exc}") from None
    return copy.deepcopy(values)


def tuning_from_meta(meta: dict[str, Any]) -> dict[str, Any] | None:
    """A commit point's ``tuning``: None where absent; raises IndexCorruptError where it is not a JSON object."""
    value = meta.get("tuning")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise IndexCorruptError(f"the commit point's tuning is a {type(value).__name__}, not a JSON object")
    return value
