"""The user-facing layer: the ``qa`` command and the browser chat.

Only the HTML rendering is re-exported here. The chat app lives in ``ui.app`` and is imported on
demand (``from ui.app import build_app, launch``), so that ``qa ask`` and friends do not pay for
importing Gradio.
"""

from ui.render import NOT_FOUND, answer_html, esc, highlight, index_html, ingest_html, passages_html, question_html

__all__ = ["NOT_FOUND", "answer_html", "esc", "highlight", "index_html", "ingest_html", "passages_html", "question_html"]
