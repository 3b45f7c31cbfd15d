"""bot.nlu.normalise and the TF-IDF intent classifier's scikit-learn part."""

from __future__ import annotations

import pytest

from bot.nlu.normalise import normalise


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # accents, case, elisions
        ("J'ai REÇU l'article", "j' ai recu l' article"),
        # order numbers as customers type them, e-mails, other numbers
        ("commande OM-104233", "commande _order_"),
        ("cmd om 104233 svp", "commande _order_ s'il vous plait"),
        ("order #200517 please", "order _order_ please"),
        ("n° 104261", "n _order_"),
        ("mail marie.dupont@example.fr", "mail _email_"),
        ("il y a 10 jours", "il y a _num_ jours"),
        ("see https://example.com/x?y=1 now", "see _url_ now"),
        # chat abbreviations
        ("slt tjs pa recu pk", "salut toujours pas recu pourquoi"),
        ("thx u r great", "thanks you are great"),
        ("I didn\u2019t get it", "i did not get it"),
        # model names are not order numbers
        ("mon OM-1 Mark II", "mon om _num_ mark ii"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_normalise_keeps_question_marks_and_drops_other_punctuation() -> None:
    assert normalise("Livrez-vous en Suisse ?!") == "livrez vous en suisse ? !"
    assert normalise("") == ""
    assert normalise("   ...  ") == ""


def test_the_classifier_reads_long_noisy_messages_like_short_ones() -> None:
    from bot.nlu.intent_classifier import build_model, rankings

    texts = {
        "order_status": ["où est ma commande", "where is my order", "colis pas reçu"],
        "payment_methods": ["vous prenez paypal", "can I pay with klarna", "moyens de paiement"],
        "greet": ["bonjour", "hello", "salut"],
    }
    model = build_model({})
    model.fit(
        [normalise(t) for ts in texts.values() for t in ts],
        [intent for intent, ts in texts.items() for _ in ts],
    )
    ranked = rankings(
        model,
        ["bonjour, ma commande OM-104233 n'est toujours pas reçue, où est-elle ?", "paypal ?"],
    )
    assert [r[0]["name"] for r in ranked] == ["order_status", "payment_methods"]
    for ranking in ranked:
        confidences = [item["confidence"] for item in ranking]
        assert confidences == sorted(confidences, reverse=True)
        assert abs(sum(confidences) - 1) < 1e-6  # three intents, all ranked


@pytest.mark.parametrize("intents", [3, 2])
def test_the_fast_probabilities_equal_scikit_learns(intents: int) -> None:
    """predict_proba (Fortran-order weights, no joblib) gives scikit-learn's numbers exactly."""
    import numpy as np

    from bot.nlu.intent_classifier import build_model, predict_proba

    texts = {
        "order_status": ["où est ma commande", "where is my order", "colis pas reçu"],
        "payment_methods": ["vous prenez paypal", "can I pay with klarna", "moyens de paiement"],
        "greet": ["bonjour", "hello", "salut"],
    }
    chosen = dict(list(texts.items())[:intents])
    model = build_model({"C": 300})
    model.fit(
        [normalise(t) for ts in chosen.values() for t in ts],
        [intent for intent, ts in chosen.items() for _ in ts],
    )
    messages = [
        normalise(m)
        for m in ["bonjour, ma commande n'arrive pas", "paypal ?", "", "hello where is it", "zzz"]
    ]
    expected = model.predict_proba(messages)  # scikit-learn's own path, weights in C order
    weights = model.named_steps["classifier"].coef_.copy()
    for _ in range(2):  # the first call reorders the weights, the second uses them as they are
        got = predict_proba(model, messages)
        assert got.shape == (len(messages), intents)
        assert np.array_equal(got, expected)
        assert np.array_equal(predict_proba(model, messages[1:2]), expected[1:2])
    assert model.named_steps["classifier"].coef_.flags.f_contiguous
    assert np.array_equal(model.named_steps["classifier"].coef_, weights)
    assert np.array_equal(model.predict_proba(messages), expected)  # scikit-learn's path still
