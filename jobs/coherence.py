"""Does a comment agree with its score? A cheap guard against the commonest drift of small
models: a detractor writing a rave, or a promoter writing a complaint.

Only clear cases are refused: a comment with strong words of one polarity and none of the other,
against a score of the opposite category. Passives (7-8) may write anything, and mixed or
neutral comments always pass, so the guard never fights realistic nuance ("solved, but slow").
The model's own sentiment labels (the classify step) measure agreement afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from npscsat.models import NpsCategory

POSITIVE_WORDS = frozenset(
    """
    amazing awesome brilliant delighted excellent exceptional fantastic flawless friendly glad
    great happy helpful impressed impressive love loved lovely outstanding perfect perfectly
    pleasant pleased recommend recommended satisfied smooth superb thank thanks thankful
    wonderful good quick quickly fast efficient easy
    solved resolved fixed helped understood understand sorted grateful appreciated
    """.split()  # noqa: SIM905 - a word list reads best as words
)
NEGATIVE_WORDS = frozenset(
    """
    angry annoyed annoying appalling awful bad disappointed disappointing disappointment
    disgusting frustrated frustrating frustration horrible ignored incompetent inexcusable
    mess nightmare pathetic poor ridiculous rude slow terrible unacceptable unhappy unhelpful
    unprofessional useless waste wasted worse worst unresolved dissatisfied hopeless broken
    """.split()  # noqa: SIM905 - a word list reads best as words
)
NEGATIONS = frozenset(
    """
    not no never nothing nobody hardly barely ain't aren't can't couldn't didn't doesn't don't
    hadn't hasn't haven't isn't shouldn't wasn't weren't won't wouldn't
    """.split()  # noqa: SIM905 - a word list reads best as words
)
NEGATION_REACH = 3  # "not very helpful": a negation flips words up to 3 words later
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Word -> +1 positive, -1 negative, 0 negation: one lookup per word (this runs per record).
_LEXICON = {
    **dict.fromkeys(POSITIVE_WORDS, 1),
    **dict.fromkeys(NEGATIVE_WORDS, -1),
    **dict.fromkeys(NEGATIONS, 0),
}


@dataclass(frozen=True)
class Polarity:
    positive: int
    negative: int

    @property
    def clearly_positive(self) -> bool:
        return self.positive > 0 and self.negative == 0

    @property
    def clearly_negative(self) -> bool:
        return self.negative > 0 and self.positive == 0


def polarity(comment: str, words: list[str] | None = None) -> Polarity:
    """Counts strong positive and negative words; a negation up to NEGATION_REACH words before
    a word flips its polarity ("not helpful" is negative, "not bad" positive). `words`: the
    comment's lower-case words, when the caller has them already."""
    if words is None:
        words = _WORD.findall(comment.lower().replace("\u2019", "'"))
    # Most words are neither: keep only the ones that matter, with their position.
    hits = [(index, _LEXICON[word]) for index, word in enumerate(words) if word in _LEXICON]
    positive = negative = 0
    last_negation = -NEGATION_REACH - 1
    for index, kind in hits:
        if kind == 0:
            last_negation = index
            continue
        if index - last_negation <= NEGATION_REACH:
            kind = -kind
        if kind > 0:
            positive += 1
        else:
            negative += 1
    return Polarity(positive, negative)


def contradicts(category: NpsCategory, comment: str, words: list[str] | None = None) -> bool:
    """True when the comment clearly says the opposite of what the score says."""
    if category == "passive":
        return False
    found = polarity(comment, words)
    if category == "detractor":
        return found.clearly_positive
    return found.clearly_negative
