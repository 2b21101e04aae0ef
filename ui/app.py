"""The browser chat (``qa chat``): a thin Gradio layer over ``QA.ask`` and ``Index.add_articles``.

Every piece of markup comes from ``ui.render`` (which escapes all article and user text); this
module only wires components to the pipeline. The chat shows that HTML with Markdown and LaTeX
off, so text from articles is never re-read as markup.

No ``from __future__ import annotations`` here: ``gr.api`` reads the ``ask`` endpoint's types at
runtime from its annotations.
"""

import ipaddress
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import gradio as gr

from index import IndexNotFoundError, QAError
from qa import QA, Answer
from qa.examples import example_questions
from ui import render
from ui.service import DEFAULT_MAX_UPLOAD_BYTES, MAX_K, MAX_TURNS, UPLOAD_TYPES, Service

__all__ = ["CSS", "DEFAULT_MAX_UPLOAD_BYTES", "EXAMPLES", "MAX_K", "UPLOAD_TYPES", "ChatHandlers", "Conversation",
           "build_app", "is_loopback", "launch", "parse_auth", "warn_if_exposed"]

EXAMPLES = 4  # example questions offered by an empty chat

CSS = """
.qa-answer .qa-span { font-size: 1.3em; font-weight: 600; margin: 0.1em 0 0.2em; }
.qa-answer mark, #qa-passages mark { background: #fde68a; color: #1f2937; padding: 0 0.15em; border-radius: 3px; }
.qa-meta { color: var(--body-text-color-subdued); font-size: 0.9em; }
.qa-title { font-weight: 600; font-size: 1em; }
.qa-understood { color: var(--body-text-color-subdued); font-style: italic; margin-bottom: 0.3em; }
.qa-notfound { font-weight: 600; margin: 0.1em 0 0.3em; }
.qa-heading { margin-top: 0.6em; font-weight: 600; }
.qa-sources, .qa-raw-list { margin: 0.2em 0 0 1.4em; padding: 0; }
.qa-source { margin: 0.35em 0; }
.qa-source summary { cursor: pointer; }
.qa-sentence { display: block; margin-top: 0.15em; }
.qa-passage { margin: 0.35em 0 0.2em; padding-left: 0.7em; border-left: 3px solid var(--border-color-primary); }
.qa-raw { margin: 0.6em 0; }
.qa-index { margin: 0.2em 0 0.6em; }
.qa-index .qa-row { display: flex; gap: 1em; padding: 0.1em 0; }
.qa-index .qa-key { font-weight: 600; min-width: 5.5em; }
.qa-index .qa-value { overflow-wrap: anywhere; }
.qa-differ { margin: 0.5em 0 0.2em; padding: 0.4em 0.7em; border: 1px solid #f59e0b; border-radius: 6px; }
.qa-differ ul { margin: 0.2em 0 0 1.1em; padding: 0; }
.qa-differ .qa-value { font-weight: 600; }
.qa-differ .qa-agree { color: var(--body-text-color-subdued); font-size: 0.9em; }
.qa-warnings { margin: 0.3em 0 0 1.2em; color: var(--error-text-color, #b91c1c); }
#qa-examples { gap: 0.4em; flex-wrap: wrap; }
#qa-examples button { flex: 1 1 40%; text-align: left; white-space: normal; }
"""


@dataclass(frozen=True)
class Conversation:
    """One browser tab's chat: the messages shown and the (question, answer) turns of follow-ups.

    ``turns`` hold each question as it was understood (the rewritten one where there is one),
    so a chain of follow-ups keeps its context.

    Example:
        >>> Conversation().with_answer(qa.ask("Who is the Kremlin spokesman?")).turns
        (('Who is the Kremlin spokesman?', 'Dmitry Peskov'),)
    """

    messages: tuple[tuple[str, str], ...] = ()
    turns: tuple[tuple[str, str | None], ...] = ()
    last: Answer | None = None

    def with_answer(self, answer: Answer) -> "Conversation":
        """This conversation with ``answer`` (and its question) appended."""
        shown = (("user", render.question_html(answer.question)), ("assistant", render.answer_html(answer)))
        asked = answer.rewritten_question or answer.question
        return Conversation(messages=self.messages + shown, turns=self.turns + ((asked, answer.text),), last=answer)

    def chat(self) -> list[dict[str, str]]:
        """The messages in the Chatbot's format."""
        return [{"role": role, "content": content} for role, content in self.messages]


class ChatHandlers:
    """The functions behind the chat's events; each turns a ``QAError`` into a ``gr.Error``.

    ``service`` (made from ``qa`` where not given) checks API arguments and is shared with the REST API
    when both are served, so that they answer one question at a time between them.

    Example:
        >>> handlers = ChatHandlers(qa, max_upload_bytes=20_000_000)
        >>> handlers.ask_json("Who is the Kremlin spokesman?")["answer"]
        'Dmitry Peskov'
    """

    def __init__(self, qa: QA, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, service: Service | None = None) -> None:
        self.service = service if service is not None else Service(qa, max_upload_bytes=max_upload_bytes)
        if self.service.qa is not qa:
            raise ValueError("the service must serve the same QA as the chat")
        self.qa = qa

    @property
    def max_upload_bytes(self) -> int:
        return self.service.max_upload_bytes

    def ask(self, question: str, k: float, conversation: Conversation) -> tuple[list[dict[str, str]], Conversation, str, str]:
        """Answer a chat message; returns the chat, the new conversation, an emptied textbox and the passages."""
        try:
            answer = self.service.answer(question or "", history=conversation.turns[-MAX_TURNS:], k=int(k))
        except QAError as exc:
            raise gr.Error(render.error_text(str(exc))) from None
        conversation = conversation.with_answer(answer)
        return conversation.chat(), conversation, "", render.passages_html(answer.passages)

    def ask_json(self, question: str, k: int | None = None,
                 history: Sequence[Sequence[str | None]] | None = None) -> dict[str, Any]:
        """The answer as ``qa ask --json`` prints it (the API's ``ask``); ``history`` as ``QA.ask`` takes it.

        Raises gr.Error for a question that is not text, a malformed history, or a ``k`` that is not a whole
        number from 1 to the slider's maximum: API callers send any JSON, and an answer over 1,000 passages
        ties up the chat.
        """
        try:
            return self.service.ask(question, history=history, k=k)
        except QAError as exc:
            raise gr.Error(render.error_text(str(exc))) from None

    @property
    def max_k(self) -> int:
        """The most passages one question may read: the slider's maximum."""
        return self.service.max_k

    def examples(self) -> list[str]:
        """Up to ``EXAMPLES`` questions answered by recent articles (``qa.examples``); [] where there is no index."""
        return example_questions(self.qa.index, EXAMPLES)

    def clear(self) -> tuple[list[dict[str, str]], Conversation, str]:
        """Start a new conversation."""
        return [], Conversation(), render.passages_html(())

    def index_panel(self) -> str:
        """The index's counts and model, or why there is no index yet."""
        try:
            return render.index_html(self.qa.index.info())
        except IndexNotFoundError:
            return render.index_html(None, problem=f"No index yet in {self.qa.index.path}.")
        except QAError as exc:
            return render.index_html(None, problem=str(exc))

    def upload(self, files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[str, str, None]:
        """Index uploaded files; returns the index panel, the report and an emptied file box.

        Files are read as bytes and parsed by ``load_bytes`` under their own names; nothing is
        written where an upload points. A file that cannot be read is reported and skipped.
        """
        if not files:
            raise gr.Error("Choose one or more files to add first.")

        def reading(done: int, total: int, name: str) -> None:
            progress((done, total), desc=f"reading {name}", unit="files")

        def embedding(done: int, total: int) -> None:
            progress((done, total), desc="embedding", unit="chunks")

        uploads = [(Path(path).name, partial(open, path, "rb")) for path in files]
        try:
            report = self.service.add(uploads, on_file=reading, progress=embedding)
        except QAError as exc:
            raise gr.Error(render.error_text(str(exc))) from None
        return self.index_panel(), render.ingest_html(report), None


def build_app(qa: QA, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, service: Service | None = None) -> gr.Blocks:
    """The chat as a Gradio app (not launched). Its ``ask`` endpoint returns ``answer_to_dict`` JSON.

    ``service``, where given, is shared with another API (its upload limit then applies).

    Example:
        >>> build_app(QA(Index("qa-index"))).launch(css=CSS)
    """
    handlers = ChatHandlers(qa, max_upload_bytes=max_upload_bytes, service=service)
    limit_mb = f"{handlers.max_upload_bytes / 1e6:g} MB"
    with gr.Blocks(title="News QA", analytics_enabled=False) as app:
        gr.Markdown("## News QA\nAsk about your articles. Every answer is copied word for word from an article, "
                    "with its sources; open a source to read the whole passage.")
        conversation = gr.State(Conversation())
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    label="Chat", elem_id="qa-chat", height="72vh", layout="panel",
                    render_markdown=False, sanitize_html=True, latex_delimiters=[], allow_tags=False,
                    feedback_options=None, buttons=[], group_consecutive_messages=False,
                    placeholder="Ask a question about the indexed articles.",
                )
                # filled at page load and after "New conversation"; a button's text is shown as text, never markup
                with gr.Row(visible=False, elem_id="qa-examples") as examples_row:
                    example_buttons = [gr.Button(visible=False, size="sm", elem_classes="qa-example")
                                       for _ in range(EXAMPLES)]
                with gr.Row():
                    question = gr.Textbox(show_label=False, placeholder="e.g. Who is the Kremlin spokesman?",
                                          elem_id="qa-question", scale=5, max_lines=4, submit_btn=False)
                    ask = gr.Button("Ask", variant="primary", elem_id="qa-ask", scale=1, min_width=80)
                new_chat = gr.Button("New conversation", size="sm", elem_id="qa-new")
                with gr.Accordion("Passages read for the last answer", open=False, elem_id="qa-passages-box"):
                    passages = gr.HTML(render.passages_html(()), elem_id="qa-passages", js_on_load=None)
            with gr.Column(scale=2, min_width=280):
                with gr.Accordion("Index", open=True):
                    index_panel = gr.HTML(elem_id="qa-index", js_on_load=None)
                    files = gr.File(label=f"Add articles (.txt .md .html .htm .jsonl, up to {limit_mb} each)",
                                    file_count="multiple", file_types=list(UPLOAD_TYPES), elem_id="qa-upload")
                    add = gr.Button("Add to index", elem_id="qa-add")
                    report = gr.HTML(elem_id="qa-report", js_on_load=None)
                with gr.Accordion("Settings", open=True):
                    k = gr.Slider(1, handlers.max_k, value=qa.config.k, step=1,
                                  label="Passages read per question (k)", elem_id="qa-k")

        # The UI's own events are private and named apart, so that "ask" is the one public endpoint.
        chat_turn = dict(fn=handlers.ask, inputs=[question, k, conversation],
                         outputs=[chat, conversation, question, passages], api_visibility="private")
        examples_out = [examples_row, *example_buttons]

        def show_examples() -> list[Any]:
            questions = handlers.examples()
            return [gr.Row(visible=bool(questions)),
                    *(gr.Button(value=questions[i], visible=True) if i < len(questions) else gr.Button(visible=False)
                      for i in range(EXAMPLES))]

        def hide_examples() -> Any:
            return gr.Row(visible=False)

        hide = dict(fn=hide_examples, inputs=None, outputs=examples_row, api_visibility="private")
        question.submit(**chat_turn, api_name="chat_submit").success(**hide, api_name="examples_hide_submit")
        ask.click(**chat_turn, api_name="chat_click").success(**hide, api_name="examples_hide_click")
        for n, button in enumerate(example_buttons):  # fill the question box with the example, then ask it
            button.click(lambda text: text, button, question, api_name=f"example_{n}", api_visibility="private") \
                .then(**chat_turn, api_name=f"example_ask_{n}").success(**hide, api_name=f"examples_hide_{n}")
        show = dict(fn=show_examples, inputs=None, outputs=examples_out, api_visibility="private")
        new_chat.click(handlers.clear, None, [chat, conversation, passages], api_name="chat_new",
                       api_visibility="private").then(**show, api_name="examples_new")
        chat.clear(handlers.clear, None, [chat, conversation, passages], api_name="chat_clear",
                   api_visibility="private").then(**show, api_name="examples_clear")
        add.click(handlers.upload, [files], [index_panel, report, files], api_name="upload", api_visibility="private")
        app.load(handlers.index_panel, None, index_panel, api_name="index_info", api_visibility="private")
        app.load(**show, api_name="examples")

        default_k = qa.config.k

        def ask_endpoint(question: str, k: int = default_k,
                         history: list[list[str | None]] | None = None) -> dict[str, Any]:
            """Answer ``question`` from the indexed articles, as ``qa ask --json`` does.

            ``history`` holds the earlier turns of a conversation, oldest first, each [question, answer or
            null], so that a follow-up ("What did he confirm?") is understood; callers may leave it out.
            """
            return handlers.ask_json(question, k, history)

        gr.api(ask_endpoint, api_name="ask")
    return app


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:password"`` as Gradio's ``(user, password)``; None stays None.

    Raises QAError when either part is missing or empty.
    """
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise QAError("auth must be user:password with both parts non-empty (e.g. --auth alice:s3cret)")
    return user, password


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(host: str, what: str, unprotected: Sequence[str] = ()) -> None:
    """Print one warning line to stderr where ``host`` is not loopback; ``unprotected`` names the missing protections.

    Example:
        >>> warn_if_exposed("0.0.0.0", "the chat", ["--auth user:password"])
    """
    if is_loopback(host):
        return
    advice = f" (protect it with {' and '.join(unprotected)})" if unprotected else ""
    print(f"warning: {what} listens on {host}, so other machines can reach it and read your articles{advice}",
          file=sys.stderr)


def launch(qa: QA, *, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None,
           max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, block: bool = True) -> gr.Blocks:
    """Serve the chat on ``host:port``; blocks until stopped unless ``block`` is False.

    A host other than loopback prints a warning to stderr. Raises QAError for a malformed ``auth``.

    Example:
        >>> launch(QA(Index("qa-index")), port=7861, auth="alice:s3cret")
    """
    credentials = parse_auth(auth)
    warn_if_exposed(host, "the chat", () if credentials else ["--auth user:password"])
    app = build_app(qa, max_upload_bytes=max_upload_bytes)
    app.queue(default_concurrency_limit=1)
    app.launch(server_name=host, server_port=port, auth=credentials, max_file_size=max_upload_bytes,
               prevent_thread_lock=not block, show_error=False, ssr_mode=False, css=CSS)
    return app
