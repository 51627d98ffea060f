"""ROUGE-L for every language: identical answers score 1 in any script, near-identical ones in between, English as before."""

from __future__ import annotations

import pytest

from jobs.evaluation.text import text_similarity

IDENTICAL = {
    "portuguese": "O pão de queijo é uma receita típica de Minas Gerais, feita com polvilho.",
    "russian": "Москва является столицей России и крупнейшим городом страны.",
    "chinese": "北京是中华人民共和国的首都，也是全国的政治中心。",
    "japanese": "東京はにほんの首都です。",
    "greek": "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "hindi": "नई दिल्ली भारत की राजधानी है।",
    "arabic": "القاهرة هي عاصمة مصر.",
}


def rouge_l(prediction: str, reference: str) -> float:
    """The per-example ROUGE-L F1 the report gives one answer."""
    return text_similarity([prediction], [reference])[1][0]


@pytest.mark.parametrize("language", sorted(IDENTICAL))
def test_identical_answers_score_one_in_every_script(language: str) -> None:
    assert rouge_l(IDENTICAL[language], IDENTICAL[language]) == pytest.approx(1.0)


@pytest.mark.parametrize(("prediction", "reference"), [
    ("O gato comeu o pão", "O gato comeu o peixe"),                  # Portuguese: one word of five changed
    ("Кошка съела свежий хлеб утром", "Кошка съела свежую рыбу утром"),  # Russian: two words of five changed
    ("我喜欢喝绿茶", "我喜欢喝红茶"),                                   # Chinese: one character of six changed
])
def test_near_identical_answers_score_between_zero_and_one(prediction: str, reference: str) -> None:
    score = rouge_l(prediction, reference)
    assert 0.5 < score < 1.0


def test_one_changed_word_of_five_scores_four_fifths_in_any_script() -> None:
    assert rouge_l("O gato comeu o pão", "O gato comeu o peixe") == pytest.approx(0.8)
    assert rouge_l("Кошка съела свежий хлеб утром", "Кошка съела свежий сыр утром") == pytest.approx(0.8)
    assert rouge_l("我喜欢喝茶", "我喜欢吃茶") == pytest.approx(0.8)


def test_accented_words_are_whole_words_and_case_and_unicode_forms_do_not_matter() -> None:
    # "pão" is one word, not "p" + "o": a different accented word shares nothing with it.
    assert rouge_l("pão", "pó") == 0.0
    assert rouge_l("ÁGUA É VIDA", "água é vida") == pytest.approx(1.0)
    decomposed = "cafe\u0301 com leite"  # é written as e + combining acute accent (NFD)
    assert rouge_l(decomposed, "café com leite") == pytest.approx(1.0)
    assert rouge_l("STRASSE", "Straße") == pytest.approx(1.0)


def test_mixed_scripts_split_ideographs_from_words() -> None:
    # a Latin word glued to Chinese characters: the word stays one token, each ideograph is one more.
    assert rouge_l("iPhone手机", "iPhone手机") == pytest.approx(1.0)
    assert rouge_l("iPhone手机", "iPhone电脑") == pytest.approx(1 / 3)


@pytest.mark.parametrize(("prediction", "reference", "expected"), [
    ("the sky is teal", "The sky is teal.", 1.0),
    ("the cat sat on the mat", "the cat is on the mat", 5 / 6),
    ("It's 42 degrees, isn't it?", "it s 42 degrees", 8 / 11),
    ("running_fast now", "running fast now", 1.0),
    ("no idea", "The sky is amber.", 0.0),
])
def test_english_scores_are_what_rouge_score_gave_before(prediction: str, reference: str, expected: float) -> None:
    from rouge_score import rouge_scorer

    default = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False).score(reference, prediction)["rougeL"].fmeasure
    assert rouge_l(prediction, reference) == pytest.approx(default) == pytest.approx(expected)


def test_empty_answers_score_zero() -> None:
    assert rouge_l("", "北京") == 0.0
    assert rouge_l("...", "...") == 0.0
