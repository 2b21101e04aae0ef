import numpy as np
import pytest

from index import Index, IndexConfig
from index.vectors import VectorStore
from tests.conftest import FakeEmbedder, make_article


def test_vector_store_matches_brute_force_numpy():
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((500, 24)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    queries = vecs[:5] + 0.1 * rng.standard_normal((5, 24)).astype(np.float32)
    store = VectorStore(24)
    store.add(vecs)
    scores, rows = store.search(queries, 10)
    expected = np.argsort(-(queries @ vecs.T), axis=1)[:, :10]
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ vecs.T, expected, axis=1), rtol=1e-5)


def test_vector_store_compaction_keeps_the_other_rows_in_order():
    vecs = np.eye(6, dtype=np.float32)
    store = VectorStore(6)
    store.add(vecs)
    keep = np.array([True, False, True, True, False, True])
    np.testing.assert_array_equal(store.without(keep).vectors(), vecs[keep])


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
