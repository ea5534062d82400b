"""Follow-up questions made explicit: "and what about Hungary?" after "Why won't Turkey sanction Russia?".

A conversation's next question often leans on the last one: it swaps the subject ("what about X?")
or points back with a pronoun ("when did he say that?"). Searching such a question alone finds
nothing useful, so it is rewritten against the previous question of the same conversation: the
subject is carried over or replaced. A question that names its own subject is left as it is.
"""

from __future__ import annotations

import re

_ABOUT = re.compile(r"^\s*(?:and|but|so)?[\s,]*(?:what|how)\s+about\s+(?P<subject>.+?)\s*[?.!]*\s*$", re.IGNORECASE)
_AND = re.compile(r"^\s*(?:and|but|also)\b[\s,]*(?P<rest>.+)$", re.IGNORECASE)
_POINTERS = re.compile(
    r"\b(he|she|they|him|her|them|his|hers|their|theirs|it|its|that|this|those|these|there|then)\b", re.IGNORECASE
)
_NAME = re.compile(r"\b(?:[A-Z][\w'’.-]*[a-z0-9]|[A-Z]{2,})(?:\s+(?:of\s+|de\s+|al-)?(?:[A-Z][\w'’.-]*|[A-Z]{2,}))*")
_OPENER_WORDS = (
    "What Who Whom Whose When Where Why How Which Is Are Was Were Do Does Did Can Could Will Would "
    "Should Has Have Had And But So Also In On At For The A An"
)
_QUESTION_OPENERS = frozenset(_OPENER_WORDS.split())


def names(text: str) -> list[str]:
    """The capitalised names in ``text`` (runs of capitalised words), without question openers."""
    found = []
    for match in _NAME.finditer(text):
        words = match.group(0).split()
        while words and words[0] in _QUESTION_OPENERS:
            words = words[1:]
        if words:
            found.append(" ".join(words))
    return found


def resolve(question: str, previous: str | None) -> str:
    """``question`` made self-contained using ``previous`` (the conversation's last question), if it leans on it."""
    if not previous or not previous.strip():
        return question
    about = _ABOUT.match(question)
    if about:
        subject = about.group("subject").strip()
        earlier = names(previous)
        if earlier:
            return previous.replace(earlier[0], subject, 1)
        return f"{previous.rstrip(' ?.!')} {subject}?"
    own = names(question)
    bare = not own and len(question.split()) <= 3  # "Why?", "And when?", "How many?"
    leaning = _AND.match(question) is not None or (not own and (bare or _POINTERS.search(question) is not None))
    if not leaning:
        return question
    carried = [n for n in names(previous) if n not in own]
    if not carried:
        carried = [w for w in re.findall(r"[\w'’-]+", previous) if len(w) > 3][:6]
    return f"{question.rstrip()} ({', '.join(carried)})" if carried else question
