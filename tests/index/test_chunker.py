from index.chunker import Chunker
from tests.fakes import make_article


def test_chunks_map_to_exact_article_characters():
    text = ("Sentence number %d is here, with some words. " * 60 % tuple(range(60))) + "\n\nÜnïcode ünd émoji 🚀 end."
    art = make_article("t", text)
    chunks = Chunker(chunk_size=200, chunk_overlap=80).split(art, first_id=7)
    assert len(chunks) > 5
    assert [c.chunk_id for c in chunks] == list(range(7, 7 + len(chunks)))
    for c in chunks:
        assert art.text[c.start : c.end] == c.text
        assert len(c.text) <= 200
    # consecutive chunks overlap or are separated by whitespace only: no text is lost between them
    for a, b in zip(chunks, chunks[1:]):
        assert b.start <= a.end or not art.text[a.end : b.start].strip()
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:])), "overlap is configured, so some chunks overlap"
    assert chunks[-1].text.endswith("end.")


def test_repeated_paragraphs_get_increasing_offsets():
    para = "The same paragraph repeats itself in this article."
    art = make_article("t", "\n\n".join([para] * 12))
    chunks = Chunker(chunk_size=120, chunk_overlap=0).split(art)
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts))
    assert all(art.text[c.start : c.end] == c.text for c in chunks)


def test_short_article_is_one_chunk():
    art = make_article("t", "  Short text.  ")
    (chunk,) = Chunker().split(art)
    assert chunk.text == "Short text." and art.text[chunk.start : chunk.end] == "Short text."
