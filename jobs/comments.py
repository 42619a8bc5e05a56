"""Checks on a generated comment: is it a sentence a customer would write, about this contact,
in agreement with the score, and not a copy of another comment?

Each check targets something a small model really writes (seen against SmolLM2-135M): JSON or
markup inside the text (`...knew the product well...},{`), a label instead of a sentence
(`4.3, product review/product improvement`), the prompt's topic copied word for word, and the
same comment with small changes several times in one answer. They are cheap, because they run
on every record: the comment is split into words once, and "nearly the same" compares word sets
(the share of words two comments have in common), not characters.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata

from jobs.coherence import contradicts
from npscsat.models import NpsCategory

_SPACES = re.compile(r"\s+")
# JSON or markup syntax: brackets, braces, backslashes, pipes, backticks, key-value quotes,
# markdown emphasis or headings, links, snake_case names. "#" alone stays ("ticket #4512").
_MARKUP = re.compile(r'[{}\[\]<>\\|`~^]|\*\*|"\s*[:,]|^#|https?://|\w_\w')
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# Words nearly every English sentence has at least one of; a label ("product improvement")
# has none. Together with end punctuation this tells "Great help, thanks!" from a label.
_FUNCTION_WORDS = frozenset(
    """
    i me my we our us you your it its they them their he she his her this that these those
    a an the and but or so because if when than then
    is am are was were be been being do did does done have has had get got will would can
    could should not no never to of in on at for with from by about after before again
    very too just still only all any some more most much what who how why there here
    """.split()  # noqa: SIM905 - a word list reads best as words
)
MIN_WORDS = 3
# Share of their words two comments have in common (|a & b| / |a | b|) from which they count as
# one comment said twice; and from which a comment is the prompt's topic copied.
NEAR_DUPLICATE_OVERLAP = 0.75
TOPIC_COPY_OVERLAP = 0.8
# Comments of at least this many words are too specific to come twice in one data set: a repeat
# across answers is the model copying itself. Short ones ("Great service, thanks!") may repeat.
REPEAT_MIN_WORDS = 8


def normalise(text: str) -> str:
    """One line of plain text: control characters removed, runs of white space collapsed."""
    if text.isprintable():  # the common case, checked in C: only spaces to tidy
        return " ".join(text.split())
    printable = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    return _SPACES.sub(" ", printable).strip()


def words(text: str) -> list[str]:
    """Lower-case words: what is left when punctuation and digits stop mattering."""
    return _WORD.findall(text.casefold().replace("\u2019", "'"))


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@functools.lru_cache(maxsize=256)
def _topic_words(topic: str) -> frozenset[str]:
    return frozenset(words(topic))  # a scenario has a few dozen topics


def is_sentence(text: str, text_words: list[str] | None = None) -> bool:
    text_words = words(text) if text_words is None else text_words
    if len(text_words) < MIN_WORDS or text[0].isdigit():
        return False
    letters = sum(map(len, text_words))
    if letters < 0.6 * (len(text) - text.count(" ")):
        return False
    return text[-1] in ".!?" or not _FUNCTION_WORDS.isdisjoint(text_words)


def problem(
    comment: str, category: NpsCategory, topic: str, comment_words: list[str] | None = None
) -> str | None:
    """Why a (normalised) comment is not kept, or None. `comment_words`: words(comment), when
    the caller has them already."""
    if _MARKUP.search(comment):
        return "comment_markup"
    comment_words = words(comment) if comment_words is None else comment_words
    if not is_sentence(comment, comment_words):
        return "comment_not_a_sentence"
    if overlap(frozenset(comment_words), _topic_words(topic)) >= TOPIC_COPY_OVERLAP:
        return "comment_copies_topic"
    if contradicts(category, comment, comment_words):
        return "comment_contradicts_nps"
    return None


class NearDuplicates:
    """The comments of one answer; `add` refuses one too similar to one already there."""

    def __init__(self, threshold: float = NEAR_DUPLICATE_OVERLAP) -> None:
        self.threshold = threshold
        self._seen: list[frozenset[str]] = []

    def add(self, comment: str, comment_words: list[str] | None = None) -> bool:
        key = frozenset(words(comment) if comment_words is None else comment_words)
        if any(overlap(key, other) >= self.threshold for other in self._seen):
            return False
        self._seen.append(key)
        return True


class RunRepeats:
    """The long comments kept so far in a run; `add` refuses one already there (thread-safe:
    the worker threads check their answers at the same time)."""

    def __init__(self, min_words: int = REPEAT_MIN_WORDS) -> None:
        self.min_words = min_words
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def add(self, comment: str, comment_words: list[str] | None = None) -> bool:
        comment_words = words(comment) if comment_words is None else comment_words
        if len(comment_words) < self.min_words:
            return True
        key = " ".join(comment_words)
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True
