"""Extractive question answering over an article index."""

from qa.config import QAConfig, ReaderKind
from qa.followup import rewrite
from qa.heuristic import HeuristicReader
from qa.pipeline import QA
from qa.readers import make_reader
from qa.retriever import Retriever
from qa.serialize import answer_to_dict, passage_to_dict
from qa.text import question_type
from qa.tuning import FittedThreshold, fitted_threshold, reader_identity, store_fitted
from qa.types import Alternative, Answer, Citation, Passage, Reader, Span

__all__ = [
    "QA", "Alternative", "Answer", "Citation", "FittedThreshold", "HeuristicReader", "Passage", "QAConfig", "Reader",
    "ReaderKind", "Retriever", "Span", "answer_to_dict", "fitted_threshold", "make_reader", "passage_to_dict",
    "question_type", "reader_identity", "rewrite", "store_fitted",
]
