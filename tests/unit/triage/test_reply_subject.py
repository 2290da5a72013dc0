"""A reply's subject names the case it answers; the new text decides what this message is."""

from __future__ import annotations

from intake.messages import InboundMessage
from intake.settings import DEFAULTS_DIR
from intake.triage import load_rules, triage_message

RULES = load_rules(DEFAULTS_DIR / "triage.yaml")
THANKS = ("Hi Aisha,\n\nJust wanted to say a massive thank you. My account is back and everything's working. "
          "No need to reply, have a lovely weekend!\n\nEmily")


def _mail(subject: str, text: str) -> InboundMessage:
    return InboundMessage(channel="email", sender="emily@example.com", subject=subject, text=text, new_text=text)


def test_thanks_under_an_old_case_subject_is_a_closed_case() -> None:
    triage = triage_message(_mail("Re: [Case #4471902] Account suspension appeal", THANKS), RULES)
    assert triage.category == "other" and not triage.private
    assert "account.ban@subject:suspension|appeal" in triage.reasons  # still read, counted once


def test_a_new_subject_still_counts_double() -> None:
    text = "Please look at this, I do not know what happened."
    triage = triage_message(_mail("Account suspended, appeal", text), RULES)
    assert triage.category == "account"
