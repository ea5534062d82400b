"""Follow-up questions made explicit: "and what about Hungary?" after "Why won't Turkey sanction Russia?".

A conversation's next question often leans on the last one: it swaps the subject ("what about X?")
or points back with a pronoun ("when did he say that?"). Searching such a question alone finds
nothing useful, so it is rewritten against the previous question of the same conversation: the
subject is carried over or replaced. A question that names its own subject is left as it is.
"""

from __future__ import annotations

import re

from retrieval.text import names

_ABOUT = re.compile(r"^\s*(?:and|but|so)?[\s,]*(?:what|how)\s+about\s+(?P<subject>.+?)\s*[?.!]*\s*$", re.IGNORECASE)
_AND = re.compile(r"^\s*(?:and|but|also)\b[\s,]*(?P<rest>.+)$", re.IGNORECASE)
_POINTERS = re.compile(
    r"\b(he|she|they|him|her|them|his|hers|their|theirs|it|its|that|this|those|these|there|then)\b", re.IGNORECASE
)


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
