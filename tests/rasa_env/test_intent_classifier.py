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


COMPOSE_TEXTS = {
    "greet": ["bonjour", "hello there"],
    "thank": ["merci beaucoup", "thanks a lot"],
    "goodbye": ["au revoir", "bye for now"],
    "affirm": ["d'accord", "okay"],
    "inform": ["commande OM-104233", "order OM-104250"],
    "order_status": ["où est ma commande", "where is my order"],
    "payment_methods": ["vous prenez paypal", "can I pay with klarna"],
}


def _compose_inputs() -> tuple[list[str], list[str]]:
    texts = [t for ts in COMPOSE_TEXTS.values() for t in ts]
    return texts, [i for i, ts in COMPOSE_TEXTS.items() for _ in ts]


def test_composition_builds_request_copies_only_from_the_examples_given() -> None:
    from bot.nlu.intent_classifier import CONVERSATION_INTENTS, compose

    texts, intents = _compose_inputs()
    options = {"compose_greeting": 1.0, "compose_closing": 1.0, "compose_weight": 0.5}
    got_texts, got_intents, weights = compose(texts, intents, options)
    assert got_texts[: len(texts)] == texts and got_intents[: len(texts)] == intents
    assert weights == [1.0] * len(texts) + [0.5] * (len(got_texts) - len(texts))
    copies = list(zip(got_texts[len(texts) :], got_intents[len(texts) :], strict=True))
    # one greeting copy and one closing copy of each request, labelled with the request
    requests = [
        (t, i) for t, i in zip(texts, intents, strict=True) if i not in CONVERSATION_INTENTS
    ]
    assert len(copies) == 2 * len(requests)
    for text, intent in requests:
        mine = [c for c, i in copies if text in c]
        assert {i for c, i in copies if text in c} == {intent}
        assert any(c.endswith(text) and c.split(",")[0] in COMPOSE_TEXTS["greet"] for c in mine)
        assert any(
            c.startswith(text)
            and c[len(text) + 1 :] in COMPOSE_TEXTS["thank"] + COMPOSE_TEXTS["goodbye"]
            for c in mine
        )
    # the greeting is in the request's language when it is clear
    assert any(c == "bonjour, où est ma commande" for c, _ in copies)
    assert any(c == "hello there, where is my order" for c, _ in copies)
    # seeded: the same examples give the same copies; another seed may give others
    assert compose(texts, intents, options) == (got_texts, got_intents, weights)


def test_without_composition_the_fit_is_the_plain_pipeline_fit() -> None:
    import numpy as np

    from bot.nlu.intent_classifier import build_model, compose, fit_model, predict_proba

    texts, intents = _compose_inputs()
    assert compose(texts, intents, {}) == (texts, intents, [1.0] * len(texts))
    plain = build_model({"C": 300}).fit([normalise(t) for t in texts], intents)
    fitted = fit_model({"C": 300}, texts, intents)
    messages = [normalise(m) for m in ["bonjour, ma commande ?", "paypal", "merci"]]
    assert np.array_equal(predict_proba(fitted, messages), predict_proba(plain, messages))


def test_composed_copies_change_the_fit_and_keep_the_fast_path() -> None:
    import numpy as np

    from bot.nlu.intent_classifier import fit_model, predict_proba

    texts, intents = _compose_inputs()
    options = {"C": 300, "compose_greeting": 1.0, "compose_closing": 1.0}
    composed = fit_model(options, texts, intents)
    plain = fit_model({"C": 300}, texts, intents)
    messages = [normalise("bonjour, où est ma commande ? merci beaucoup")]
    assert not np.array_equal(predict_proba(composed, messages), predict_proba(plain, messages))
    assert np.array_equal(predict_proba(composed, messages), composed.predict_proba(messages))
