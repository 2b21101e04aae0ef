"""When articles disagree: the values that different articles give for a how many / how much / when question.

The reader is asked once over all the passages; its best span in each article is that article's answer.
Two articles answer "the same thing" differently when, for a question of type ``how many`` (how many, how
much, how long...) or ``when`` (``qa.text.question_type``), both best spans state a value of that type, both
score at least a floor, and the values conflict. Values are compared by what they state, not by their
wording:

- numbers: the figures (``300,000`` = ``300000``; ``seventeen`` = ``17``; ``1.5 million``), and the unit
  where both give one (``3 hours`` and ``3 days`` differ; ``300,000 reservists`` and ``300,000`` agree);
- dates: year, month, day of the month, weekday and words like "yesterday", each compared only where both
  give it (``March 2009`` and ``2009`` agree, ``2027`` and ``2029`` differ; ``Monday`` and ``March 3`` say
  nothing about each other, so neither is listed against the other).

A value that gives a superset of another's parts agrees with it (``March 3, 2009`` with ``March 3``).
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from qa.text import question_type
from qa.types import Span

DIFFER_TYPES = ("how many", "when")
Value = Mapping[str, frozenset[str]]  # part of a value ("number", "unit", "year"...) -> what it says

_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[a-z]+")
_ONES = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
        "seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
NUMBER_WORDS = {**{w: str(n) for n, w in enumerate(_ONES, 1)}, **{w: str(10 * n) for n, w in enumerate(_TENS, 2)},
                "dozen": "12", "hundred": "hundred", "thousand": "thousand", "million": "million",
                "billion": "billion", "trillion": "trillion"}
UNITS = {
    "second": "second", "minute": "minute", "hour": "hour", "day": "day", "week": "week", "month": "month",
    "year": "year", "decade": "decade", "century": "century", "centurie": "century", "mile": "mile",
    "kilometer": "km", "kilometre": "km", "km": "km", "meter": "m", "metre": "m", "feet": "foot", "foot": "foot",
    "inch": "inch", "inche": "inch", "pound": "pound", "kilogram": "kg", "kg": "kg", "ton": "ton", "tonne": "ton",
    "percent": "percent", "dollar": "dollar", "euro": "euro",
}
_SYMBOLS = {"%": "percent", "$": "dollar", "€": "euro", "£": "pound"}
_MONTHS = "january february march april may june july august september october november december".split()
MONTHS = {**{m: m[:3] for m in _MONTHS}, **{m[:3]: m[:3] for m in _MONTHS if m != "may"}, "sept": "sep"}
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
WEEKDAYS = {d: d[:3] for d in _WEEKDAYS}  # no "sun", "sat", "wed": common words, and news spells weekdays out
RELATIVE_DAYS = frozenset({"yesterday", "today", "tomorrow", "tonight"})


def _figure(text: str) -> str:
    """``300,000`` -> ``300000``; ``1.50`` -> ``1.5``: thousands separators dropped, trailing decimals trimmed."""
    text = text.replace(",", "")
    return text.rstrip("0").rstrip(".") if "." in text else text


def value_of(text: str, qtype: str) -> Value:
    """The parts of a number (``how many``) or date (``when``) that ``text`` states; empty when it states none.

    Example:
        >>> dict(value_of("300,000 reservists", "how many"))
        {'number': frozenset({'300000'})}
    """
    lower = text.lower()
    figures = [_figure(m.group()) for m in _FIGURE.finditer(lower)]
    found = _WORD.findall(lower)
    parts: dict[str, set[str]] = {}
    if qtype == "how many":
        numbers = figures + [NUMBER_WORDS[w] for w in found if w in NUMBER_WORDS]
        if numbers:
            parts["number"] = set(numbers)
            units = {UNITS[w.removesuffix("s")] for w in found if w.removesuffix("s") in UNITS}
            units |= {unit for symbol, unit in _SYMBOLS.items() if symbol in text}
            if units:
                parts["unit"] = units
    elif qtype == "when":
        for figure in figures:
            if figure.isdigit() and len(figure) == 4:
                parts.setdefault("year", set()).add(figure)
            elif figure.isdigit() and 1 <= int(figure) <= 31:
                parts.setdefault("day", set()).add(str(int(figure)))
        for word in found:
            for name, table in (("month", MONTHS), ("weekday", WEEKDAYS)):
                if word in table:
                    parts.setdefault(name, set()).add(table[word])
            if word in RELATIVE_DAYS:
                parts.setdefault("relative", set()).add(word)
    return {name: frozenset(values) for name, values in parts.items()}


def comparable(a: Value, b: Value) -> bool:
    """Whether the two values give at least one part in common (a year, a figure...)."""
    return bool(set(a) & set(b))


def agree(a: Value, b: Value) -> bool:
    """Comparable, and on every part both give, one says no more than the other (``2009`` and ``2009, 2010``)."""
    shared = set(a) & set(b)
    return bool(shared) and all(a[p] <= b[p] or b[p] <= a[p] for p in shared)


def differing_values(question: str, best: Span, spans: Sequence[Span], floor: float) -> list[list[Span]]:
    """Each article's best span, grouped by the value it states, ``best``'s group first; [] unless they differ.

    Args:
        question: the question as asked (its type decides whether values are compared at all).
        best: the answer's span.
        spans: the reader's candidates from every passage read.
        floor: the least score an article's best span needs to be counted.

    Returns:
        Groups of spans (one per article, best first in each group); empty unless the question is a
        ``how many`` or ``when`` question, ``best`` states such a value, and another article's best
        span states one that conflicts with it.
    """
    qtype = question_type(question)
    if qtype not in DIFFER_TYPES:
        return []
    chosen = value_of(best.text, qtype)
    if not chosen:
        return []
    tops: dict[str, Span] = {best.passage.doc_id: best}
    for span in sorted(spans, key=lambda s: -s.score):
        tops.setdefault(span.passage.doc_id, span)
    groups: list[tuple[Value, list[Span]]] = [(chosen, [best])]
    for doc_id, span in tops.items():
        value = value_of(span.text, qtype)
        if span is best or span.score < floor or not comparable(value, chosen):
            continue
        home = next((members for key, members in groups if agree(key, value)), None)
        if home is None:
            groups.append((value, [span]))
        else:
            home.append(span)
    return [members for _, members in groups] if len(groups) > 1 else []
