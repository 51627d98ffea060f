"""ROUGE-L for answers in any language: a Unicode-aware tokenizer under rouge-score's LCS scoring.

rouge-score's default tokenizer keeps only ``[a-z0-9]``, so identical Chinese or Russian answers score 0 and an accented
Portuguese word falls apart (``pão`` becomes ``p`` and ``o``). :class:`UnicodeTokenizer` splits text the way each script
writes words:

- the text is NFKC-normalised (composed accents, full-width forms and ligatures made plain) and case-folded;
- in spaced scripts (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, ...) a token is a run of letters, combining
  marks and digits, so ``pão``, ``столица`` and ``राजधानी`` are one word each; anything else (spaces, punctuation,
  ``_``) separates words, as in rouge-score;
- in scripts written without spaces (CJK ideographs, kana, Hangul syllables, Thai, Lao, Khmer, Myanmar) each character,
  with its combining marks, is one token: the character-level ROUGE commonly used for Chinese and Japanese.

For English (ASCII) text the tokens are exactly rouge-score's default ones without stemming, so English scores are
unchanged. Usage: ``rouge_l_f1(predictions, references)`` gives each pair's ROUGE-L F1.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import regex

_UNSPACED_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Bopomofo}"
_TOKEN = regex.compile(
    rf"[{_UNSPACED_SCRIPTS}]\p{{M}}*"                        # one character of a script written without spaces
    rf"|[[\p{{L}}\p{{M}}\p{{N}}]--[{_UNSPACED_SCRIPTS}]]+",  # a word: letters, marks and digits of any other script
    flags=regex.VERSION1,
)


class UnicodeTokenizer:
    """rouge-score's tokenizer interface (a ``tokenize`` method) for text in any script."""

    def tokenize(self, text: str) -> list[str]:
        """The tokens ROUGE compares: words of spaced scripts, single characters of unspaced ones."""
        return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def rouge_l_f1(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """Each prediction's ROUGE-L F1 against its reference (0 when either has no token)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeTokenizer())
    return [scorer.score(reference, prediction)["rougeL"].fmeasure for prediction, reference in zip(predictions, references, strict=True)]
