"""Understand a follow-up question in the light of the previous turn."""

from __future__ import annotations

import re
from typing import Sequence

from qa.text import STOPWORDS, content_words, question_type, words

_PERSONAL = {"he": "", "she": "", "him": "", "they": "", "them": "", "her": "", "his": "'s", "their": "'s", "hers": "'s"}
_REFERRING = {"it", "its", "that", "this", "there", "then", "those", "these", "he", "she", "him", "her", "his",
              "they", "them", "their", "hers"}


def rewrite(question: str, history: Sequence[tuple[str, str | None]]) -> str | None:
    """A self-contained version of ``question``, or None when it needs no context.

    ``history`` holds the earlier turns as (question, answer text or None), oldest first.
    Personal pronouns after a "who" question are replaced by the previous answer; other
    referring or very short questions get the previous question's key words appended.

    Example:
        >>> rewrite("What did he confirm?", [("Who is the Kremlin spokesman?", "Dmitry Peskov")])
        'What did Dmitry Peskov confirm?'
    """
    if not history:
        return None
    prev_q, prev_a = history[-1]
    toks = words(question)
    refers = any(t in _REFERRING for t in toks)
    if not refers and len(content_words(question)) > 1:
        return None
    if prev_a and question_type(prev_q) == "who" and any(t in _PERSONAL for t in toks):
        pattern = re.compile(r"\b(" + "|".join(_PERSONAL) + r")\b", re.IGNORECASE)
        return pattern.sub(lambda m: prev_a + _PERSONAL[m.group(1).lower()], question, count=1)
    context = [w for w in re.findall(r"[\w’'-]+", prev_q) if w.lower() not in STOPWORDS]
    if prev_a:
        context.append(prev_a)
    if not context:
        return None
    return f"{question.rstrip()} ({' '.join(context)})"
