"""Vietnamese phone numbers and e-mail addresses as the rota accepts them."""

from __future__ import annotations

import pytest

from callrouter.rota.phones import normalise_email, normalise_phone, phone_kind

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "national", "kind"),
    [
        ("0912345678", "0912345678", "mobile"),
        ("0912 345 678", "0912345678", "mobile"),
        ("0912.345.678", "0912345678", "mobile"),
        ("0912-345-678", "0912345678", "mobile"),
        ("+84 912 345 678", "0912345678", "mobile"),
        ("+84912345678", "0912345678", "mobile"),
        ("84912345678", "0912345678", "mobile"),
        ("0084 912 345 678", "0912345678", "mobile"),
        ("0362 345 678", "0362345678", "mobile"),
        ("0555 123 456", "0555123456", "mobile"),
        ("0708 553 291", "0708553291", "mobile"),
        ("0868 117 402", "0868117402", "mobile"),
        ("024 3333 4444", "02433334444", "landline"),
        ("(028) 3822 1234", "02838221234", "landline"),
        ("0226 3851 234", "02263851234", "landline"),
        ("+84 24 3333 4444", "02433334444", "landline"),
        ("842433334444", "02433334444", "landline"),
    ],
)
def test_valid_numbers_are_normalised_to_national_digits(
    raw: str, national: str, kind: str
) -> None:
    assert normalise_phone(raw) == national
    assert phone_kind(national) == kind


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "091234567",  # 9 digits
        "09123456789",  # 11-digit mobile
        "0112345678",  # 01x is not a mobile prefix any more
        "0412345678",  # 04 is neither
        "0612345678",
        "0243333444",  # 10-digit landline (old format)
        "024333344445",  # 12 digits
        "+1 212 555 0100",  # not Vietnamese
        "0912abc678",
        "０９１２３４５６７８",  # full-width digits
        "113",
    ],
)
def test_invalid_numbers_are_refused_with_help(raw: str) -> None:
    with pytest.raises(ValueError, match=r"0[0-9]|chữ số"):
        normalise_phone(raw)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("an.nv@ttyt.example.vn", "an.nv@ttyt.example.vn"),
        ("  An.NV@TTYT.Example.VN ", "An.NV@ttyt.example.vn"),
        ("x+tag@sub.domain.gov.vn", "x+tag@sub.domain.gov.vn"),
    ],
)
def test_valid_emails_are_kept_with_domain_lower_cased(raw: str, normal: str) -> None:
    assert normalise_email(raw) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "an",
        "an@",
        "@x.vn",
        "an@x",
        "an @x.vn",
        "an@@x.vn",
        "an..b@x.vn",
        ".an@x.vn",
        "an@-x.vn",
    ],
)
def test_invalid_emails_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="e-mail"):
        normalise_email(raw)


def test_overlong_local_part_is_refused() -> None:
    with pytest.raises(ValueError, match="e-mail"):
        normalise_email("a" * 65 + "@x.vn")
