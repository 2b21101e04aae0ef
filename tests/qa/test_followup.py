from qa.followup import rewrite


def test_pronoun_after_who_question_becomes_the_previous_answer():
    history = [("Who is the Kremlin spokesman?", "Dmitry Peskov")]
    assert rewrite("What did he confirm?", history) == "What did Dmitry Peskov confirm?"
    assert rewrite("What is his job?", history) == "What is Dmitry Peskov's job?"


def test_referring_question_gets_previous_context():
    out = rewrite("When did it happen?", [("How many women attended the meeting?", "17")])
    assert out.startswith("When did it happen?") and "meeting" in out and "17" in out


def test_self_contained_questions_and_first_turns_are_left_alone():
    assert rewrite("Who won the autumn marathon?", [("Who is the Kremlin spokesman?", "Dmitry Peskov")]) is None
    assert rewrite("What did he confirm?", []) is None
