"""The chat in headless Chromium: answers with highlighted sources, follow-ups, uploads, inert hostile articles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
SCRIPT = "<script>alert(1)</script>"  # held by hostile.txt in conftest.ARTICLES, whose title is IMG
IMG = "<img src=x onerror=alert(1)>"
TIMEOUT_MS = 90_000  # the shared CPU is slow; an answer normally takes a few seconds


@pytest.fixture
def dialogs() -> list[str]:
    """The messages of every JavaScript dialog (alert, confirm, prompt) the page opened."""
    return []


@pytest.fixture
def page(chromium_browser, chat_url, dialogs):
    """A fresh tab on the chat, recording dialogs into ``dialogs`` (and dismissing them)."""
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 1300})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)

    def record(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", record)
    tab.goto(chat_url)
    tab.locator("#qa-index").get_by_text("Articles", exact=True).wait_for()
    yield tab
    context.close()


def ask(page, question: str):
    """Type ``question``, press Ask, and return the locator of the new answer."""
    answers = page.locator("#qa-chat .qa-answer")
    before = answers.count()
    page.locator("#qa-question textarea").fill(question)
    page.locator("#qa-ask").click()
    answer = answers.nth(before)
    answer.wait_for()
    return answer


def test_answer_shows_the_span_and_a_highlighted_source_then_a_follow_up(page, dialogs):
    answer = ask(page, "Who is the Kremlin spokesman?")
    assert answer.locator(".qa-span").inner_text() == "Dmitry Peskov"
    source = answer.locator(".qa-source").first
    assert "Kremlin confirms plan" in source.inner_text() and "kremlin.md" in source.inner_text()
    assert "2022-11-22" in source.inner_text()
    assert source.locator(".qa-sentence mark").inner_text() == "Dmitry Peskov"
    passage = source.locator(".qa-passage")
    assert not passage.is_visible()
    source.locator("summary").click()
    passage.wait_for(state="visible")
    assert "President Vladimir Putin" in passage.inner_text()

    follow = ask(page, "What did he confirm?")
    understood = follow.locator(".qa-understood").inner_text()
    assert understood.startswith("understood as:") and "What did Dmitry Peskov confirm?" in understood
    assert follow.locator(".qa-source mark").count() >= 1

    page.get_by_text("Passages read for the last answer").click()
    raw = page.locator("#qa-passages .qa-raw")
    raw.first.wait_for(state="visible")
    assert "Vedomosti" in page.locator("#qa-passages").inner_text()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)
    assert dialogs == []


def test_hostile_articles_show_as_text_and_run_nothing(page, dialogs):
    answer = ask(page, "Who found the hidden code?")
    assert answer.locator(".qa-span").inner_text() == "Maria Lopez"
    source = answer.locator(".qa-source").first
    source.locator("summary").click()
    assert page.get_by_text(SCRIPT).first.is_visible()  # the literal characters, on screen
    assert IMG in source.locator(".qa-title").inner_text()
    assert IMG in source.locator(".qa-passage").inner_text()
    chat = page.locator("#qa-chat")
    assert chat.locator("script").count() == 0 and chat.locator("img[src='x']").count() == 0
    assert chat.locator("[onerror]").count() == 0
    page.get_by_text("Passages read for the last answer").click()
    raw = page.locator("#qa-passages")
    raw.get_by_text("Security analyst Maria Lopez").wait_for(state="visible")
    assert SCRIPT in raw.inner_text() and IMG in raw.inner_text()
    assert raw.locator("script").count() == 0 and raw.locator("img").count() == 0

    ask(page, f"What does {SCRIPT} mean to {IMG} readers?")
    assert page.locator("#qa-chat [data-testid='user']").last.inner_text().strip() == \
        f"What does {SCRIPT} mean to {IMG} readers?"
    page.wait_for_timeout(500)  # an onerror handler would fire as soon as the image failed to load
    assert dialogs == []


def test_not_found_says_so_and_errors_show_as_messages(page):
    answer = ask(page, "What is the capital of Peru?")
    assert "The indexed articles do not seem to hold the answer" in answer.inner_text()
    assert answer.locator(".qa-source").count() >= 1  # the closest passages are still listed

    page.locator("#qa-question textarea").fill("   ")
    page.locator("#qa-ask").click()
    toast = page.locator("[data-testid='toast-body']")
    toast.wait_for()
    assert "the question is empty" in toast.inner_text() and "Traceback" not in toast.inner_text()


def test_uploaded_article_is_answerable_at_once_and_bad_files_are_reported(page, tmp_path):
    good = tmp_path / "solar.txt"
    good.write_text("Solar farm opens on former airfield\n2025-01-17\n\nThe operator, Nordsol Energy, said its "
                    "48,000 panels can supply about 11,000 households.\n", encoding="utf-8")
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"title": "no text here"}\n', encoding="utf-8")
    articles_before = int(re.search(r"Articles\s+(\d+)", page.locator("#qa-index").inner_text()).group(1))

    page.locator("#qa-upload input[type=file]").set_input_files([str(good), str(bad)])
    expect(page.locator("#qa-upload")).to_contain_text("broken", timeout=TIMEOUT_MS)  # shown as "broken" ".jsonl"
    page.locator("#qa-add").click()
    report = page.locator("#qa-report .qa-report")
    report.wait_for()
    assert "1 added" in report.inner_text() and "1 skipped" in report.inner_text()
    assert "broken.jsonl:1" in report.inner_text() and "'text' must be a non-empty string" in report.inner_text()
    assert f"Articles {articles_before + 1}" in " ".join(page.locator("#qa-index").inner_text().split())

    answer = ask(page, "How many panels does the solar farm have?")
    assert answer.locator(".qa-span").inner_text() == "48,000"
    assert "solar.txt" in answer.locator(".qa-source").first.inner_text()


def test_an_empty_chat_offers_example_questions_and_clicking_one_asks_it(page, dialogs):
    examples = page.locator("#qa-examples button:visible")
    examples.first.wait_for()
    texts = [examples.nth(i).inner_text().strip() for i in range(examples.count())]
    confirm = "Who confirmed a report in the newspaper Vedomosti about the meeting?"
    assert confirm in texts  # from kremlin.md's lead sentences
    assert f"Who found the code {SCRIPT} hidden in a newsletter?" in texts  # hostile.txt's, shown as text
    assert page.locator("#qa-examples script").count() == 0 and page.locator("#qa-examples img").count() == 0

    examples.filter(has_text="Vedomosti").click()
    answer = page.locator("#qa-chat .qa-answer").first
    answer.wait_for()
    assert page.locator("#qa-chat [data-testid='user']").first.inner_text().strip() == confirm
    assert "Peskov" in answer.inner_text()
    expect(page.locator("#qa-examples")).to_be_hidden()  # offered by an empty chat only

    page.locator("#qa-new").click()
    expect(page.locator("#qa-examples button:visible").first).to_be_visible()
    assert dialogs == []
