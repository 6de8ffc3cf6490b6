"""`countersign diagnostics` says what each reason it shows means and how to fix it, in the words
GET /diagnostics serves with the counts (errors.DIAGNOSTIC_REASONS, which the console shows too)."""

from __future__ import annotations

from countersign.errors import DIAGNOSTIC_REASONS
from countersign_dev.commands.reports import diagnostics_tables


def _answer(dropped: dict[str, int], rejected: dict[str, int], recent: list[str]) -> dict[str, object]:
    return {
        "counts": {"accepted": 3, "duplicates": 0, "dropped": dropped, "rejected": rejected},
        "recentDrops": [{"at": "2026-12-06T12:00:00Z", "reason": reason, "route": "sessions"} for reason in recent],
        "reasons": DIAGNOSTIC_REASONS,
    }


def test_each_reason_that_occurs_is_explained_once_with_its_fix_and_no_other() -> None:
    dropped, rejected = sorted(DIAGNOSTIC_REASONS)[:2], sorted(DIAGNOSTIC_REASONS)[-1:]
    text = diagnostics_tables(_answer({dropped[0]: 4}, {rejected[0]: 1}, [dropped[0], dropped[1]]))
    explained = text.split("\nWhat the reasons mean\n")[1]
    for reason in (*dropped, *rejected):
        words = DIAGNOSTIC_REASONS[reason]
        assert explained.count(f"{reason}: {words['meaning']}\n  fix: {words['fix']}\n") == 1
    others = set(DIAGNOSTIC_REASONS) - {*dropped, *rejected}
    assert not [reason for reason in others if f"\n{reason}: " in f"\n{explained}"]


def test_nothing_to_explain_adds_no_section() -> None:
    assert "What the reasons mean" not in diagnostics_tables(_answer({}, {}, []))


def test_a_servers_words_reach_the_terminal_as_visible_escapes() -> None:
    """An --api that is not ours chooses the words: nothing in them may act on the terminal."""
    answer = _answer({"jwt_invalid": 1}, {}, [])
    answer["reasons"] = {"jwt_invalid": {"meaning": "bad\x1b]0;owned\x07", "fix": "line\u2028two"}}
    text = diagnostics_tables(answer)
    assert "\x1b" not in text and "\x07" not in text and "\u2028" not in text
    assert "jwt_invalid: bad\\x1b]0;owned\\x07\n  fix: line\\u2028two\n" in text
