import json

import pytest

from index import SearchMode
from qa import QAConfig, ReaderKind


def test_search_mode_parses_its_strings_and_names_the_choices_when_refusing():
    assert [SearchMode.from_str(s) for s in ("hybrid", "dense", "lexical")] == list(SearchMode)
    assert SearchMode.from_str(SearchMode.DENSE) is SearchMode.DENSE
    assert SearchMode.DENSE == "dense" and json.dumps(SearchMode.DENSE) == '"dense"'
    with pytest.raises(ValueError, match=r"^retrieval mode must be one of hybrid, dense, lexical; got 'fuzzy'$"):
        SearchMode.from_str("fuzzy")


def test_reader_kind_names_the_kinds_and_keeps_a_path_a_path():
    assert ReaderKind.or_path("neural") is ReaderKind.NEURAL and ReaderKind.or_path("heuristic") is ReaderKind.HEURISTIC
    assert ReaderKind.or_path("~/models/r") == "~/models/r" and not isinstance(ReaderKind.or_path("r"), ReaderKind)
    with pytest.raises(ValueError, match=r"^reader must be one of neural, heuristic; got 'nueral'$"):
        ReaderKind.from_str("nueral")


def test_qa_config_accepts_strings_and_stores_the_enums():
    config = QAConfig(reader="heuristic", retrieval="lexical")
    assert config.reader is ReaderKind.HEURISTIC and config.retrieval is SearchMode.LEXICAL
    assert QAConfig().reader is ReaderKind.NEURAL and QAConfig().retrieval is SearchMode.HYBRID
    assert QAConfig(reader="/some/model").reader == "/some/model"
    with pytest.raises(ValueError, match="retrieval mode must be one of hybrid, dense, lexical"):
        QAConfig(retrieval="fuzzy")


def test_search_takes_the_enum_or_its_string(fake_index):
    assert fake_index.search("Kiprono marathon", k=2, mode="dense") == fake_index.search(
        "Kiprono marathon", k=2, mode=SearchMode.DENSE)
    with pytest.raises(ValueError, match="hybrid, dense, lexical; got 'fuzzy'"):
        fake_index.search("x", mode="fuzzy")
