"""Follow-up questions made explicit: "and what about Hungary?" after "Why won't Turkey sanction Russia?".

A conversation's next question often leans on the last one. It swaps the subject ("what about X?",
"and X?") or points back ("What did NATO say about it?", "when did he say that?", "why?"). Searching
such a question alone finds the wrong thing, so it is rewritten against the previous question of the
same conversation (as it was searched):

- a swap puts the new subject in place of the previous question's first name: "Why won't Hungary
  sanction Russia?";
- a question that points back keeps the previous subject, even when it names something of its own:
  "What did NATO say about it? (Turkey sanction Russia)". The carried words are shown in brackets, so
  the reply can show what was searched and a later follow-up can carry them on;
- a question that names its own subject and does not point back is left as it is.
"""

from __future__ import annotations

import re

from retrieval.text import names


def _split(words: str) -> list[str]:
    """The words of a space-separated list."""
    return words.split()


_ABOUT = re.compile(r"^\s*(?:and|but|so)?[\s,]*(?:what|how)\s+about\s+(?P<subject>.+?)\s*[?.!]*\s*$", re.IGNORECASE)
_AND = re.compile(r"^\s*(?:and|but|also|so)\b[\s,]*(?P<rest>.*?)\s*[?.!]*\s*$", re.IGNORECASE)
_WHO_POINTER = re.compile(
    r"^\s*(?:and\s+)?(?P<who>who|what)\s+(?P<verb>is|was|are|were)\s+(?:he|she|they|him|her|them|it)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_CARRIED = re.compile(r"^(?P<main>.*?)\s*\((?P<carried>[^()]*)\)\s*$")
_TOKEN = re.compile(r"[\w'’-]+")
_POINTERS = frozenset(_split("he she they him her them his hers their theirs it its that this those these there then"))
_TIME_NOUNS = frozenset(_split("week weekend month year day morning afternoon evening night time season"))
_SAYING = frozenset(
    _split(
        "say says said tell tells told claim claims claimed think thinks thought believe believes believed "
        "report reports reported announce announces announced warn warns warned mean means meant so such"
    )
)
_BE = frozenset(_split("is are was were be been will would could can has have had"))
_QUESTION_WORDS = frozenset(_split("what who whom whose when where why how which"))
_LEADING = frozenset(_split("in on at for to of about with from the a an"))
_STOP = frozenset(
    _split(
        "a an the and or but so also of in on at to for from by with about as into over after before than "
        "is are was were be been being am do does did done doing have has had having will would shall "
        "should can could may might must won't wouldn't don't doesn't didn't isn't aren't wasn't weren't "
        "can't couldn't not no yes what who whom whose when where why how which that this those these "
        "it its he she they him her them his hers their theirs there then i you we me us our your my "
        "any some all more most very just now still yet again say says said tell tells told"
    )
)
MAX_CARRIED = 8
"""At most this many words of the previous question are carried into a follow-up."""


def resolve(question: str, previous: str | None) -> str:
    """``question`` made self-contained using ``previous`` (the conversation's last question as searched),
    if it leans on it; else ``question`` unchanged."""
    if not previous or not previous.strip():
        return question
    swapped = new_subject(question)
    if swapped is not None:
        return swap_subject(previous, swapped)
    person = who_they_are(question, previous)
    if person is not None:
        return person
    if not leans_back(question):
        return question
    carried = subject_words(previous, exclude=question)
    return f"{question.rstrip()} ({' '.join(carried)})" if carried else question


def who_they_are(question: str, previous: str) -> str | None:
    """ "Who is he?" after a question naming one name ("What did Erdogan say?") → "Who is Erdogan?", a
    question about that name; None for any other question, or when the previous one names none or
    several (carried words would make "Who is Turkey sanction Russia?")."""
    match = _WHO_POINTER.match(question)
    if match is None:
        return None
    found = list(dict.fromkeys(names(split_carried(previous)[0])))
    if len(found) != 1:
        return None
    return f"{match.group('who')} {match.group('verb')} {found[0]}?"


def new_subject(question: str) -> str | None:
    """The new subject of a question that only swaps it: "what about Hungary?", "and Erdogan?"; else None."""
    about = _ABOUT.match(question)
    if about:
        return _strip_leading(about.group("subject"))
    elliptic = _AND.match(question)
    if elliptic is None:
        return None
    words = _TOKEN.findall(elliptic.group("rest"))
    if not words or len(words) > 5 or words[0].lower() in _QUESTION_WORDS | _BE | _POINTERS:
        return None  # "and when?", "and is it over?", "and they?": not a new subject
    if any(w.lower() in _POINTERS | _BE for w in words):
        return None
    return _strip_leading(elliptic.group("rest"))


def swap_subject(previous: str, subject: str) -> str:
    """``previous`` with ``subject`` in place of its first name (its own words before what it carried);
    ``subject`` added instead when it is no name ("and the gun charge?") or ``previous`` has none."""
    main, carried = split_carried(previous)
    if not names(subject):
        return join_carried(main, f"{carried} {subject}".strip())
    for text, rebuild in ((main, lambda t: join_carried(t, carried)), (carried, lambda t: join_carried(main, t))):
        found = names(text)
        if found:
            return rebuild(text.replace(found[0], subject, 1))
    return join_carried(main, f"{carried} {subject}".strip())


def leans_back(question: str) -> bool:
    """Whether ``question`` points back at the conversation: a pointer word ("it", "they", "there",
    "then", ...), a leading "and"/"but", or a bare question ("Why?", "How many?")."""
    if _AND.match(question) is not None:
        return True
    words = _TOKEN.findall(question)
    if len(words) > 1 and words[0].lower() in _LEADING and words[1].lower() in _QUESTION_WORDS:
        return True  # a fragment: "In how many states?", "From when?"
    if len(words) <= 3 and not names(question):
        return True
    lowered = [w.lower() for w in words]
    if not names(question) and "the" in lowered[1:-1]:
        return True  # a definite subject and no name: "Who is on the team?", "When did the impact happen?"
    return any(_is_pointer(lowered, i) for i in range(len(lowered)))


def _is_pointer(words: list[str], i: int) -> bool:
    """Whether ``words[i]`` refers back: not "this week", "say that ...", "is there", "there are"."""
    word = words[i]
    if word not in _POINTERS:
        return False
    after = words[i + 1] if i + 1 < len(words) else ""
    before = words[i - 1] if i > 0 else ""
    if word in {"this", "these"} and after in _TIME_NOUNS:
        return False
    if word == "that" and before in _SAYING and after:
        return False  # "said that Turkey ..." (but "announce that?" points back)
    return not (word == "there" and (before in _BE or after in _BE))


def subject_words(previous: str, *, exclude: str = "") -> list[str]:
    """The content words of ``previous`` (with what it carried), in order, without question words, stop
    words and words ``exclude`` already has; at most MAX_CARRIED."""
    own = {w.lower() for w in _TOKEN.findall(exclude)}
    seen: set[str] = set()
    kept: list[str] = []
    for word in _TOKEN.findall(" ".join(split_carried(previous))):
        key = word.lower()
        if key in _STOP or key in own or key in seen or len(key) < 2:
            continue
        seen.add(key)
        kept.append(word)
    return kept[:MAX_CARRIED]


def split_carried(searched: str) -> tuple[str, str]:
    """A searched question's own words and what it carried: "What did NATO say about it? (Turkey
    sanction Russia)" → ("What did NATO say about it?", "Turkey sanction Russia")."""
    match = _CARRIED.match(searched)
    if match is None:
        return searched.strip(), ""
    return match.group("main").strip(), match.group("carried").strip()


def join_carried(main: str, carried: str) -> str:
    """The inverse of ``split_carried``."""
    return f"{main} ({carried})" if carried else main


def _strip_leading(phrase: str) -> str:
    """A subject without the prepositions and articles it was asked with: "in Hungary" → "Hungary"."""
    words = phrase.strip(" ?.!,").split()
    while len(words) > 1 and words[0].lower() in _LEADING:
        words = words[1:]
    return " ".join(words)
