from __future__ import annotations

import pytest

from connectors.qbxml import CATALOG, HRESULTS, Category, explain

STATUS_CODES = [0, 1, 500, 530, 3000, 3100, 3120, 3130, 3140, 3150, 3160, 3170, 3171, 3175]
STATUS_CODES += [3176, 3180, 3200, 3210, 3250, 3260, 3261, 9001]
WEB_CONNECTOR = [
    "0x80040400",
    "0x80040408",
    "0x8004040A",
    "0x80040410",
    "0x80040414",
    "0x80040418",
    "0x8004041A",
    "0x8004041B",
    "0x8004041D",
    "0x80040420",
    "0x80040422",
    "0x80040423",
    "0x80040424",
]


@pytest.mark.parametrize("code", [*map(str, STATUS_CODES), *WEB_CONNECTOR])
def test_every_code_of_the_issue_is_explained(code: str) -> None:
    entry = CATALOG[code]
    assert entry.known
    assert entry.title
    assert entry.explanation.endswith(".")
    if entry.category is not Category.OK:
        assert entry.remedy, f"{code} needs a remedy an accountant can follow"
    if entry.category is Category.FIX_THEN_RETRY:
        assert entry.action in {"refresh-edit-sequence", "create-reference", "renegotiate-version"}
    else:
        assert entry.action is None


def test_hresults_are_the_web_connector_ones() -> None:
    assert set(HRESULTS) == set(WEB_CONNECTOR)


@pytest.mark.parametrize(
    ("code", "category"),
    [
        (0, Category.OK),
        (1, Category.OK),
        (500, Category.OK),
        (3175, Category.TRANSIENT),
        (3176, Category.TRANSIENT),
        (3200, Category.FIX_THEN_RETRY),
        (3140, Category.FIX_THEN_RETRY),
        (3171, Category.PERMANENT),
        (3100, Category.PERMANENT),
        (3260, Category.PERMANENT),
        ("0x80040408", Category.TRANSIENT),
        ("0x80040414", Category.TRANSIENT),
        ("0x8004041A", Category.PERMANENT),
        ("0x80040423", Category.FIX_THEN_RETRY),
    ],
)
def test_classes(code: int | str, category: Category) -> None:
    assert explain(code).category is category


def test_the_seed_products_advice_is_in_the_remedies() -> None:
    assert "closing date" in explain(3171).remedy.lower()
    assert "single-user" in explain(3175).remedy.lower()
    assert "dialog" in explain(3175).remedy.lower()
    assert "another export" in explain(3200).remedy.lower()
    assert "users" in explain(3260).remedy.lower()
    assert "deposit" in explain(3160).explanation.lower()
    assert "tax code" in explain(3170).remedy.lower()
    assert explain(3200).action == "refresh-edit-sequence"


@pytest.mark.parametrize("code", [3170, 3180])
def test_modify_and_add_errors_are_transient_only_when_the_record_is_in_use(code: int) -> None:
    in_use = explain(
        code,
        "There was an error when modifying a Customer. QuickBooks error message: "
        "The record is in use by another user.",
    )
    assert in_use.category is Category.TRANSIENT
    assert in_use.retry
    assert "close" in in_use.remedy.lower()
    other = explain(code, "There was an error when saving a Invoice. QuickBooks error message: X")
    assert other.category is Category.PERMANENT
    assert not other.retry
    assert explain(code).category is Category.PERMANENT


def test_3170_about_a_missing_tax_code() -> None:
    entry = explain(3170, "QuickBooks error message: A sales tax code is required.")
    assert entry.title == "Sales tax code missing"
    assert entry.category is Category.PERMANENT


def test_3140_depends_on_what_is_missing() -> None:
    customer = explain(
        3140, 'There is an invalid reference to QuickBooks Customer "Ada" in the Invoice.'
    )
    assert customer.category is Category.FIX_THEN_RETRY
    assert customer.action == "create-reference"
    deposit = explain(
        3140,
        'There is an invalid reference to QuickBooks Account "Sales" in the Payment. QuickBooks '
        "error message: Payments must be deposited to a bank account or other current asset "
        "account.",
    )
    assert deposit.category is Category.PERMANENT
    assert "current asset" in deposit.explanation
    class_ref = explain(3140, 'There is an invalid reference to QuickBooks Class "Remodel".')
    assert class_ref.category is Category.PERMANENT
    assert "exact name" in class_ref.explanation


@pytest.mark.parametrize(
    "spelling", ["0x80040408", "0X80040408", "80040408", "0x80040408 ", -2147220472, "-2147220472"]
)
def test_hresult_spellings(spelling: int | str) -> None:
    entry = explain(spelling)
    assert entry.code == "0x80040408"
    assert entry.known


def test_unknown_codes_fall_back_on_their_range() -> None:
    assert explain(42).category is Category.OK
    assert not explain(42).known
    assert explain(510).category is Category.OK
    assert explain(3999).category is Category.PERMANENT
    assert explain("0x80040499").category is Category.PERMANENT
    assert explain("nonsense").category is Category.PERMANENT
    assert explain(-1).code == "0xFFFFFFFF"


def test_describe_is_one_line() -> None:
    line = explain(3200).describe()
    assert line.startswith("3200 Changed meanwhile: ")
    assert "\n" not in line


# Messages as QuickBooks sends them with each code (the sandbox sends the same wording), and
# what each must be explained as: the variant's cause, never another's remedy.
_REF = 'There is an invalid reference to QuickBooks {kind} "{name}" in the {obj}.  '
_NOT_THERE = (
    "QuickBooks error message: Invalid argument.  The specified record does not exist in the list."
)
VARIANT_CASES = [
    # 3140, a record qbsync synced and can recreate
    (
        3140,
        _REF.format(kind="Customer", name="Ada", obj="Invoice") + _NOT_THERE,
        "Missing reference",
        Category.FIX_THEN_RETRY,
        "create",
    ),
    (
        3140,
        _REF.format(kind="Item", name="Labor", obj="Invoice line") + _NOT_THERE,
        "Missing reference",
        Category.FIX_THEN_RETRY,
        "create",
    ),
    # 3140, an account of the wrong type: the issue's case, never "create it"
    (
        3140,
        _REF.format(kind="Account", name="Sales", obj="ReceivePayment")
        + "QuickBooks error message: The account must be of type Bank or UndepositedFunds.",
        "Wrong kind of account",
        Category.PERMANENT,
        "creating an account does not help",
    ),
    (
        3140,
        _REF.format(kind="AR Account", name="Sales", obj="ReceivedPayment")
        + "The account for this transaction must be of type Accounts Receivable",
        "Wrong kind of account",
        Category.PERMANENT,
        "type QuickBooks names",
    ),
    (
        3140,
        "The specified account is invalid or of the wrong type.",
        "Wrong kind of account",
        Category.PERMANENT,
        "type QuickBooks names",
    ),
    # 3140, multicurrency
    (
        3140,
        _REF.format(kind="Customer", name="Ada", obj="SalesReceipt")
        + "QuickBooks error message: The currency of the account must be either in home currency"
        " or the transaction currency.",
        "Currency does not match",
        Category.PERMANENT,
        "currency",
    ),
    # 3140, an inactive record
    (
        3140,
        _REF.format(kind="Account", name="Old Expenses", obj="item NonInventory")
        + "QuickBooks error message: The account is inactive.",
        "Record inactive",
        Category.PERMANENT,
        "Make it active",
    ),
    # 3140, a name qbsync never creates
    (
        3140,
        _REF.format(kind="Account", name="Checkng", obj="ReceivePayment") + _NOT_THERE,
        "Name not found in QuickBooks",
        Category.PERMANENT,
        "map match",
    ),
    (
        3140,
        _REF.format(kind="Class", name="Remodel", obj="Invoice") + _NOT_THERE,
        "Name not found in QuickBooks",
        Category.PERMANENT,
        "exactly the same name",
    ),
    (
        3140,
        _REF.format(kind="ItemSalesTax", name="CA", obj="Invoice") + _NOT_THERE,
        "Name not found in QuickBooks",
        Category.PERMANENT,
        "exactly the same name",
    ),
    # 3160, a payment in a summary deposit (the membership system's case)
    (
        3160,
        'There was an error when modifying a ReceivePayment "1A-9".  QuickBooks error message:'
        " This payment has been deposited and cannot be changed. Remove it from the deposit"
        " first.",
        "Payment in a deposit",
        Category.PERMANENT,
        "remove the payment from the deposit",
    ),
    (
        3160,
        "The record cannot be changed because other records depend on it.",
        "Record cannot be changed",
        Category.PERMANENT,
        "remove the payment from the deposit",
    ),
    # 3170 / 3180
    (
        3180,
        "There was an error when saving a Invoice.  QuickBooks error message: The"
        " Transaction Sales Tax field cannot be left blank.",
        "Sales tax item missing",
        Category.PERMANENT,
        "sales_tax_item",
    ),
    (
        3170,
        "There was an error when modifying a Invoice.  QuickBooks error message: The"
        " Transaction Sales Tax field cannot be left blank.",
        "Sales tax item missing",
        Category.PERMANENT,
        "sales_tax_item",
    ),
    (
        3170,
        'There was an error when deleting a Customer list, element "Ada".  QuickBooks error'
        " message: This list element is in use and cannot be deleted; make it inactive instead.",
        "Record in use cannot be deleted",
        Category.PERMANENT,
        "inactive",
    ),
    (
        3180,
        "There was an error when saving a Invoice.  QuickBooks error message: The record"
        ' "Ada" is in use by another QuickBooks user.',
        "Record in use",
        Category.TRANSIENT,
        "tries again",
    ),
    (
        3170,
        "There was an error when modifying a Customer.  QuickBooks error message: A sales"
        " tax code is required.",
        "Sales tax code missing",
        Category.PERMANENT,
        "sales tax code",
    ),
    (
        3180,
        "There was an error when saving a Invoice.  QuickBooks error message: The"
        " transaction is empty.",
        "QuickBooks refused the record",
        Category.PERMANENT,
        "Read QuickBooks' message",
    ),
    # 3000: an id of another file, or an import's iterator that QuickBooks forgot
    (
        3000,
        'The given object ID "abc" in the field "iteratorID" is invalid.',
        "Import iterator expired",
        Category.TRANSIENT,
        "next session",
    ),
    (
        3000,
        'The given object ID "80000001-99" in the field "list id" is invalid.',
        "Invalid id",
        Category.PERMANENT,
        "right company file",
    ),
]


@pytest.mark.parametrize(("code", "message", "title", "category", "remedy"), VARIANT_CASES)
def test_each_message_variant_gets_its_own_cause_and_remedy(
    code: int, message: str, title: str, category: Category, remedy: str
) -> None:
    entry = explain(code, message)
    assert (entry.title, entry.category) == (title, category)
    assert remedy.lower() in (entry.remedy + entry.explanation).lower()
    if title == "Wrong kind of account":
        assert "Create it" not in entry.remedy
        assert entry.action is None  # qbsync must not try to create anything


def test_every_variant_is_exercised() -> None:
    from connectors.qbxml import VARIANTS

    titles = {case[2] for case in VARIANT_CASES}
    assert {str(v.changes["title"]) for v in VARIANTS} <= titles


def test_an_hresult_without_a_message_is_explained() -> None:
    # The Web Connector may send none (spyne passes None for an empty element).
    entry = explain("0x80040408", None)
    assert entry.title == "Could not start QuickBooks"
    assert explain(3140, None).title == "Missing reference"
