import pytest

from qa.text import content_words, question_type, sentence_around, sentence_spans


def test_sentence_spans_cover_sentences_exactly():
    text = "Mr. Smith went home. He said “Yes.” Then 17 women came!\nNew line here"
    spans = [text[s:e] for s, e in sentence_spans(text)]
    assert spans == ["Mr. Smith went home.", "He said “Yes.”", "Then 17 women came!", "New line here"]


def test_sentence_around_a_span():
    text = "First one. A total of 17 women travelled. Last."
    start = text.index("17")
    s, e = sentence_around(text, start, start + 2)
    assert text[s:e] == "A total of 17 women travelled."


@pytest.mark.parametrize("q,t", [
    ("How many women attended?", "how many"), ("How much did it cost?", "how many"),
    ("Who is the Kremlin spokesman?", "who"), ("When did Putin order the mobilization?", "when"),
    ("What year was it built?", "when"), ("Where is Novo-Ogaryovo?", "where"),
    ("Which city hosted it?", "where"), ("What did he confirm?", "what"), ("Name the winner.", "other"),
])
def test_question_types(q, t):
    assert question_type(q) == t


def test_content_words_stem_and_drop_stopwords():
    assert content_words("The mothers petitioned the president") == {"mother", "petition", "president"}
