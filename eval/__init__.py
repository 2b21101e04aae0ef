"""Evaluation of the question-answering pipeline: question sets, metrics, reports, benchmarks."""

__all__: list[str] = []
