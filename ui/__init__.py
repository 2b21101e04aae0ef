"""The user-facing layer: the ``qa`` command, the browser chat, the REST API and the MCP server.

Only the HTML rendering is re-exported here. The chat (``ui.app``), the REST API (``ui.server``) and
the MCP server (``ui.mcp_server``) are imported on demand, so that ``qa ask`` and friends do not pay
for importing Gradio; ``ui.service`` holds the checked operations all three APIs share.
"""

from ui.render import NOT_FOUND, answer_html, esc, highlight, index_html, ingest_html, passages_html, question_html

__all__ = ["NOT_FOUND", "answer_html", "esc", "highlight", "index_html", "ingest_html", "passages_html", "question_html"]
