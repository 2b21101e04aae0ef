import numpy as np
import pytest

from index import Index, IndexConfig
from index.config import AnnSettings
from index.vectors import DenseSegment
from tests.fakes import FakeEmbedder, make_article


def test_exact_dense_segment_search_matches_brute_force_numpy():
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((500, 24)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    seg = DenseSegment(vecs, None, AnnSettings())
    for query in vecs[:5] + 0.1 * rng.standard_normal((5, 24)).astype(np.float32):
        scores, rows = seg.search(query, 10, None)
        expected = np.argsort(-(vecs @ query))[:10]
        np.testing.assert_array_equal(rows, expected)
        np.testing.assert_allclose(scores, (vecs @ query)[expected], rtol=1e-5)


def test_dense_segment_search_skips_deleted_rows_and_keeps_k():
    vecs = np.eye(6, dtype=np.float32)
    seg = DenseSegment(vecs, None, AnnSettings())
    live = np.array([True, False, True, True, False, True])
    scores, rows = seg.search(vecs[1] + 0.5 * vecs[2], 3, live)
    assert list(rows[:1]) == [2] and len(rows) == 3 and set(rows) <= {0, 2, 3, 5}


def test_dense_search_equals_brute_force_over_chunks(fake_index):
    snap = fake_index.snapshot()
    query = "How long will the bridge be?"
    hits = fake_index.search(query, k=3, mode="dense")
    q = FakeEmbedder().embed([query])[0]
    brute = np.argsort(-(FakeEmbedder().embed([c.text for c in snap.chunks]) @ q))[:3]
    assert [h.chunk.chunk_id for h in hits] == list(brute)


def test_lexical_search_finds_the_keyword_chunk(fake_index):
    hits = fake_index.search("Kiprono marathon", k=1, mode="lexical")
    assert hits[0].article.title == "Marathon record"
    fused = fake_index.search("Kiprono marathon", k=3)
    assert fused[0].article.title == "Marathon record"
    assert all(h.score > 0 for h in fused) and fused == sorted(fused, key=lambda h: -h.score)


def test_search_validates_arguments(fake_index):
    with pytest.raises(ValueError):
        fake_index.search("x", k=0)
    with pytest.raises(ValueError):
        fake_index.search("x", mode="fuzzy")


def test_empty_index_returns_no_hits(tmp_path):
    index = Index(tmp_path / "ix", IndexConfig(model=FakeEmbedder.model), embedder=FakeEmbedder())
    index.add_articles([make_article("a", "Some text.")])
    index.remove([index.list()[0].doc_id])
    assert index.search("anything", k=3) == []


def test_save_load_round_trip_gives_identical_results(fake_index, tmp_path):
    again = Index(fake_index.path, IndexConfig(model=FakeEmbedder.model), embedder=FakeEmbedder())
    for q in ("bridge", "library Saturday", "runners"):
        assert [h.chunk for h in again.search(q, k=3)] == [h.chunk for h in fake_index.search(q, k=3)]
    assert again.info()["chunks"] == fake_index.info()["chunks"]
