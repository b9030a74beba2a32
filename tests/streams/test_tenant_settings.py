"""The tenant settings model: defaults, validation and ``key=value`` changes."""

from __future__ import annotations

from datetime import date

import pytest

from streams.tenant_settings import SettingsError, TenantSettings, apply_changes, load_settings


def test_empty_settings_are_the_seed_products_defaults() -> None:
    settings = load_settings(None)
    assert settings == TenantSettings()
    assert settings.enabled
    assert settings.sync_type == "automatic"
    assert settings.customer_name_format == "{last_name}, {first_name}"
    assert settings.job_name_format == "{project_number} - {project_address}"
    assert settings.deposit_to == "undeposited_funds"
    assert settings.direction_of("invoice") == "to_quickbooks"


def test_every_field_is_documented() -> None:
    for model in (TenantSettings, TenantSettings.model_fields["entities"].annotation):
        assert model is not None
        for name, info in model.model_fields.items():  # type: ignore[union-attr]
            assert info.description, name


@pytest.mark.parametrize(
    ("stored", "words"),
    [
        ({"colour": "red"}, ["colour", "unknown setting", "allowed:", "upper_case"]),
        ({"entities": {"spaceships": True}}, ["entities.spaceships", "payments"]),
        ({"deposit_to": "mattress"}, ["deposit_to", "undeposited_funds"]),
        ({"sync_from": "yesterday"}, ["sync_from"]),
        ({"direction": {"invoice": "sideways"}}, ["direction.invoice", "two_way"]),
        # an entity that has no direction is refused like any unknown setting (issue 15)
        ({"direction": {"custmer": "two_way"}}, ["direction", "custmer", "allowed", "customer"]),
        ({"conflict": {"invoices": "always"}}, ["conflict", "invoices", "allowed", "cost_code"]),
        ({"sales_tax_codes": {"Taxable": "Taxable"}}, ["sales_tax_codes", "1 to 3"]),
        ({"job_name_format": "{project_colour}"}, ["job_name_format", "project_colour"]),
        ({"customer_name_format": "{last_name"}, ["customer_name_format"]),
    ],
)
def test_invalid_stored_settings_name_the_field(
    stored: dict[str, object], words: list[str]
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(stored)
    for word in words:
        assert word in str(caught.value)


def test_changes_are_parsed_and_validated_together() -> None:
    changed = apply_changes(
        TenantSettings(),
        [
            "upper_case=true",
            "sync_from=2026-01-01",
            "entities.payments=false",
            "direction.vendor=two_way",
            "retainage_item=Retainage Payable",
            "ar_account=null",
        ],
    )
    assert changed.upper_case is True
    assert changed.sync_from == date(2026, 1, 1)
    assert changed.entities.payments is False
    assert changed.direction == {"vendor": "two_way"}

    assert changed.retainage_item == "Retainage Payable"


def test_a_conflict_policy_per_entity_overrides_the_tenants() -> None:
    changed = apply_changes(TenantSettings(), ["conflict_policy=never", "conflict.customer=always"])
    assert changed.conflict_of("customer") == "always"
    assert changed.conflict_of("vendor") == "never"
    with pytest.raises(SettingsError, match=r"conflict\.customer"):
        apply_changes(changed, ["conflict.customer=sometimes"])


@pytest.mark.parametrize(
    ("assignment", "words"),
    [
        ("upper_case", "expected key=value"),
        ("upper_case=perhaps", "upper_case"),
        ("colour=red", "colour"),
        ("entities=false", "entities.<name>"),
        ("upper_case.x=1", "dotted key"),
    ],
)
def test_a_bad_change_names_the_key(assignment: str, words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        apply_changes(TenantSettings(), ["enabled=false", assignment])
    assert words in str(caught.value)


def test_qbo_item_defaults_and_a_projects_override_are_set_by_dotted_keys() -> None:
    from streams.tenant_settings import TenantSettings, apply_changes

    changed = apply_changes(
        TenantSettings(),
        [
            "qbo_item_defaults.income_account=Consulting Income",
            "qbo_item_defaults.tax_code=NON",
            "qbo_project_defaults.j-1.tax_code=TAX",
        ],
    )
    assert changed.qbo_item_defaults.income_account == "Consulting Income"
    assert changed.qbo_defaults("j-1").tax_code == "TAX"
    assert changed.qbo_defaults("j-2").tax_code == "NON"
    assert changed.qbo_defaults("j-1").income_account == "Consulting Income"
