"""Example questions for an empty chat, built from the lead sentences of recent articles: no model, a few reads.

A question is made only where a sentence's shape gives it away, so that its answer is in the article:

- a named subject and its verb: "Kremlin spokesman Dmitry Peskov confirmed a report ..." becomes
  "Who confirmed a report ...?";
- a counted subject: "A record 9,400 runners started the marathon." becomes "How many runners started the marathon?".

Articles whose first sentences fit neither give no question; nothing is padded with weaker ones.
"""

from __future__ import annotations

import re

from index import Article, Index, QAError

from qa.text import sentence_spans

_NAME = r"[A-Z][\w'’.-]*"
# "Mayor Ingrid Solberg", "Library director Tomas Berg", "The Kremlin": capitalised words, a few lower-case
# role words between them, ending on a capitalised one
_SUBJECT = rf"(?:The )?{_NAME}(?: (?:[a-z]+ ){{0,2}}{_NAME}){{0,3}}"
_VERBS = ("said|says|told|tells|announced|announces|confirmed|confirms|won|wins|found|finds|began|begins|received|"
          "receives|became|led|leads|met|meets|signed|signs|hosted|hosts|opened|opens|warned|warns|called|calls|"
          "named|names|will|would|has|had|was|is")
_WHO = re.compile(rf"^(?P<subject>{_SUBJECT}) (?P<rest>(?:{_VERBS}|[a-z]+ed)\b.+)$")
_HOW_MANY = re.compile(r"^(?:(?:A|An|The) )?(?:record |total of |further |another )?\d[\d,.]*(?: million| billion)? "
                       r"(?P<noun>[a-z]+s) (?P<rest>(?:were |are |have |had |will )?[a-z]+(?:ed)?\b.+)$")
_NOT_NAMES = {"A", "An", "The", "It", "He", "She", "They", "We", "I", "You", "This", "That", "These", "Those", "There",
              "Here", "His", "Her", "Their", "Its", "Our", "But", "And", "Or", "So", "Yet", "In", "On", "At", "By"}
_MAX_CHARS = 110  # a longer question is cut at a comma, where one comes late enough
_LEAD_SENTENCES = 4


def question_from(sentence: str) -> str | None:
    """A question ``sentence`` answers (see the module docstring), or None where its shape gives none.

    Example:
        >>> question_from("A record 9,400 runners started the marathon.")
        'How many runners started the marathon?'
    """
    text = " ".join(sentence.split()).rstrip(".!;:")
    if "?" in text or '"' in text or "“" in text:
        return None  # a question or a quotation: turning it round reads badly
    if m := _HOW_MANY.match(text):
        question = f"How many {m['noun']} {m['rest']}"
    elif (m := _WHO.match(text)) and m["subject"].split()[-1] not in _NOT_NAMES and m["subject"] not in _NOT_NAMES:
        question = f"Who {m['rest']}"
    else:
        return None
    if len(m["rest"].split()) < 3:
        return None  # "Who announced it?": too little to go on
    if len(question) > _MAX_CHARS:
        cut = question.rfind(",", 0, _MAX_CHARS)
        if cut < 40:
            return None
        question = question[:cut]
    return question.rstrip(" ,") + "?"


def article_question(article: Article) -> str | None:
    """The first question (``question_from``) that one of the article's lead sentences gives, else None."""
    title = " ".join(article.title.split())
    taken = 0
    for start, end in sentence_spans(article.text):
        sentence = article.text[start:end]
        if " ".join(sentence.lstrip("#* ").split()) == title or len(sentence.split()) < 5:
            continue  # the headline, a date line, a byline
        if question := question_from(sentence):
            return question
        taken += 1
        if taken >= _LEAD_SENTENCES:
            break
    return None


def example_questions(index: Index, n: int = 4, *, candidates: int = 12) -> list[str]:
    """Up to ``n`` questions (``article_question``) from the most recent of the index's articles, newest first.

    Recent is by article date, then by ingest order. Reads ``Index.list()`` and at most ``candidates``
    articles (never every text), so it stays cheap on a large index. An empty or missing index gives [].
    """
    try:
        infos = index.list()
    except QAError:
        return []
    order = sorted(range(len(infos)), key=lambda i: (infos[i].date or "", i), reverse=True)
    questions: list[str] = []
    for i in order[:candidates]:
        try:
            question = article_question(index.article(infos[i].doc_id))
        except QAError:
            continue  # removed since the listing
        if question is not None and question not in questions:
            questions.append(question)
            if len(questions) == n:
                break
    return questions
