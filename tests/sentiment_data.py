"""Real sentiment sentences built from the VADER lexicon (7,490 human-scored English words).

Strongly positive and negative words are split into two disjoint vocabularies, so a classifier is
evaluated on sentences whose sentiment words it never saw in training.
"""

from __future__ import annotations

import random

TEMPLATES = [
    "The film was {w}.",
    "I thought the service was {w}.",
    "Honestly, the whole experience felt {w}.",
    "What a {w} day it turned out to be.",
    "My neighbour called the new restaurant {w}.",
    "The book's ending was {w}.",
    "Everyone agreed the concert was {w}.",
    "Our trip to the coast was {w}.",
]


def sentiment_words(threshold: float = 2.5) -> tuple[list[str], list[str]]:
    """Alphabetic VADER words scored >= threshold (positive) and <= -threshold (negative), sorted."""
    from vader.data.lexicon import LEXICON

    positive = sorted(word for word, score in LEXICON.items() if word.isalpha() and len(word) > 3 and score >= threshold)
    negative = sorted(word for word, score in LEXICON.items() if word.isalpha() and len(word) > 3 and score <= -threshold)
    return positive, negative


def sentiment_splits(train_size: int = 200, test_size: int = 100, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train rows, test rows) of {"text", "label", "word"}; no sentiment word is shared between the splits."""
    rng = random.Random(seed)
    positive, negative = sentiment_words()
    rng.shuffle(positive)
    rng.shuffle(negative)

    def rows(pos_words: list[str], neg_words: list[str], count: int) -> list[dict]:
        out = []
        for index in range(count):
            label = "positive" if index % 2 == 0 else "negative"
            word = rng.choice(pos_words if label == "positive" else neg_words)
            out.append({"text": rng.choice(TEMPLATES).format(w=word), "label": label, "word": word})
        rng.shuffle(out)
        return out

    half_pos, half_neg = len(positive) // 2, len(negative) // 2
    train = rows(positive[:half_pos], negative[:half_neg], train_size)
    test = rows(positive[half_pos:], negative[half_neg:], test_size)
    return train, test
