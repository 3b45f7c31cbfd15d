"""Store policies: loading, validation, the FAQ facts they hold, and store resolution."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.db.models import PaymentMethod
from bot.errors import ConfigurationError, UnknownStoreError
from bot.shops import DEFAULT_STORES_DIR as STORES_DIR
from bot.shops import resolve_store
from bot.stores import (
    StorePolicy,
    all_stores,
    load_store,
    load_stores_from,
    read_store_file,
    store_ids,
)


def test_both_stores_load_in_the_registry_order() -> None:
    # The registry lists the shop folders of data/stores/ in alphabetical order.
    assert store_ids() == ("btomic", "om-system")
    assert [policy.id for policy in all_stores()] == ["btomic", "om-system"]
    assert load_store("om-system").order_prefix == "OM"
    assert load_store("btomic").order_prefix == "BT"


def test_policies_are_read_once() -> None:
    assert load_store("btomic") is load_store("btomic")


@pytest.mark.parametrize("store_id", ["amazon", "", "OM-SYSTEM", "../om-system"])
def test_unknown_store(store_id: str) -> None:
    with pytest.raises(UnknownStoreError):
        load_store(store_id)


def test_om_system_facts_match_its_faq() -> None:
    policy = load_store("om-system")
    # Q9, in the FAQ's order; "NO" must be Norway, not YAML's false.
    assert policy.delivery.countries == (
        "NL", "DE", "FR", "ES", "BE", "AT", "FI", "DK", "SE", "NO",
        "CZ", "PL", "EE", "LV", "LT", "BG", "IT", "IE", "CH", "GB",
    )  # fmt: skip
    assert set(policy.delivery.excluded_areas) == {"GB-SCT", "GB-NIR", "GB-CHI", "IM", "GB-IOW"}
    assert policy.delivery.excluded_areas_complete is False  # "notamment"
    # Q2.
    assert set(policy.payment.klarna_countries) == {
        "DE", "AT", "DK", "ES", "FI", "IT", "NO", "NL", "PL", "GB", "SE", "CH",
    }  # fmt: skip
    assert policy.delivery.delivery_business_days == (3, 4)  # Q3
    assert policy.delivery.delivery_time_is_aim is True  # "Nous nous efforçons"
    assert policy.delivery.processing_business_days is None
    assert policy.delivery.delivery_after_processing is None  # no start point
    assert policy.returns.window_days == 14  # Q14
    assert policy.returns.window_conditional is True  # "sous certaines conditions"
    assert policy.returns.route == "policy_page"
    assert policy.returns.refund_business_days is None  # not in the FAQ
    assert policy.returns.refund_timing_depends_on_bank is None
    assert policy.warranty is None and policy.repair is None and policy.modification is None
    assert policy.contact.email == "eshop.support@om-digitalsolutions.com"
    assert policy.contact.phone is None


def test_btomic_facts_match_its_faq() -> None:
    policy = load_store("btomic")
    # "nos clients du monde entier" is about payment: no delivery country list.
    assert policy.delivery.countries is None
    assert policy.delivery.excluded_areas == ()
    assert policy.payment.klarna_countries == ()
    assert policy.delivery.processing_business_days == (1, 2)
    assert policy.delivery.delivery_business_days == (7, 12)
    assert policy.returns.refund_business_days == (5, 7)
    assert policy.returns.refund_counted_from == "acceptance"
    assert policy.returns.refund_to_original_method is True
    assert policy.returns.refund_timing_depends_on_bank is True
    assert policy.cancellation.possible_after_confirmation == "maybe"
    assert policy.contact.phone == "+1 (347) 459-1491"


def test_payment_methods_are_the_database_values() -> None:
    known = {method.value for method in PaymentMethod}
    for policy in all_stores():
        assert set(policy.payment.methods) <= known, policy.id


@pytest.mark.parametrize(
    ("code", "expected"),
    [("CH", True), ("GB", True), ("DE", True), ("de", True), ("GB-SCT", True), ("FR", False),
     ("BE", False), ("US", False)],
)  # fmt: skip
def test_klarna_offered_in(code: str, expected: bool) -> None:
    assert load_store("om-system").klarna_offered_in(code) is expected
    assert load_store("btomic").klarna_offered_in(code) is False


def test_resolve_store() -> None:
    assert resolve_store("btomic", "om-system") == "btomic"
    assert resolve_store(" BTOMIC ", "om-system") == "btomic"
    assert resolve_store(None, "om-system") == "om-system"
    assert resolve_store("", "btomic") == "btomic"


def test_resolve_unknown_store_falls_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.shops"):
        assert resolve_store("amazon", "om-system") == "om-system"
    assert "amazon" in caplog.text


def test_resolve_store_with_an_unknown_default_is_a_configuration_error() -> None:
    with pytest.raises(UnknownStoreError):
        resolve_store("btomic", "amazon")


# --- validation of the files -----------------------------------------------------------------


def _write(directory: Path, text: str, name: str = "om-system") -> Path:
    (directory / name).mkdir(parents=True, exist_ok=True)
    path = directory / name / "facts.yml"
    path.write_text(text, encoding="utf-8")
    return path


OM_TEXT = (STORES_DIR / "om-system" / "facts.yml").read_text(encoding="utf-8")


def test_the_real_files_validate_from_another_directory(tmp_path: Path) -> None:
    _write(tmp_path, OM_TEXT)
    assert list(load_stores_from(tmp_path)) == ["om-system"]


def test_unquoted_no_is_still_norway(tmp_path: Path) -> None:
    # YAML 1.1 reads NO as false; the store loader only knows true/false as booleans.
    _write(tmp_path, OM_TEXT.replace('"NO"', "NO"))
    policy = load_stores_from(tmp_path)["om-system"]
    assert "NO" in (policy.delivery.countries or ())
    assert "NO" in policy.payment.klarna_countries


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  shipping_fees: null", "  shipping_fees: null\n  shipping_weeks: 2", "shipping_weeks"),
        ("[DE, AT,", "[XX, AT,", "XX"),  # unknown country code
        ("value: [3, 4]", "value: [4, 3]", "low <= high"),
        ("id: om-system", "id: btomic", "folder's name"),
        ("order_prefix: OM", "order_prefix: om1", "order_prefix"),
        ("  refund_counted_from: null", "  refund_counted_from: acceptance", "refund_counted_from"),
        ("name: OM SYSTEM e-shop", "name: [", "cannot read"),
    ],
)
def test_invalid_files_are_configuration_errors(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in OM_TEXT
    _write(tmp_path, OM_TEXT.replace(old, new, 1))
    with pytest.raises(ConfigurationError, match=message):
        load_stores_from(tmp_path)


def test_two_stores_may_not_share_an_order_prefix(tmp_path: Path) -> None:
    _write(tmp_path, OM_TEXT)
    _write(tmp_path, OM_TEXT.replace("id: om-system", "id: other"), name="other")
    with pytest.raises(ConfigurationError, match="order prefix"):
        load_stores_from(tmp_path)


def test_refused_areas_need_a_country_list() -> None:
    facts = read_store_file(STORES_DIR / "om-system" / "facts.yml").facts
    facts["delivery"]["countries"] = None
    with pytest.raises(ValidationError, match="needs a `countries` list"):
        StorePolicy.model_validate(facts)
