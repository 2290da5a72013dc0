"""The type a sender chose on the support form is a strong triage signal that the text
can still outvote."""

from __future__ import annotations

from intake.messages import InboundMessage
from intake.settings import DEFAULTS_DIR
from intake.triage import load_rules, triage_message

RULES = load_rules(DEFAULTS_DIR / "triage.yaml")


def message(text: str, hint: str | None) -> InboundMessage:
    extra = (("category_hint", hint),) if hint else ()
    return InboundMessage(channel="email", sender="a@example.com", text=text, new_text=text, extra=extra)


def test_hint_places_a_vague_message() -> None:
    text = "Hello, something is not right, please look at it."
    assert triage_message(message(text, None), RULES).category == "other"
    triage = triage_message(message(text, "feedback"), RULES)
    assert triage.category == "feedback" and triage.department == "product"
    assert "hint.category:feedback" in triage.reasons


def test_a_clear_text_outvotes_the_hint() -> None:
    text = "The app crashes on start. It keeps crashing, black screen, crash again after reinstalling."
    assert triage_message(message(text, "suggestion_unknown"), RULES).category == "technical"
    assert triage_message(message(text, "feedback"), RULES).category == "technical"


def test_payment_hint_makes_the_case_private_like_any_payment_case() -> None:
    triage = triage_message(message("你好，请帮我看一下。", "payment"), RULES)
    assert triage.category == "payment" and triage.private
