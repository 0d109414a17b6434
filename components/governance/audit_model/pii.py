"""Which columns of a table look like personal data, by column name and by value patterns.

Two independent signals, so neither a renamed column nor a misleading name hides data:

- **name**: the column name's tokens (``customer_email`` -> ``customer``, ``email``) match a
  category's words. A name hit is kept only when the values could hold that category:
  ``email_opt_in`` holding booleans is a consent flag, not an e-mail address.
- **values**: a sample of the non-null values matches a category's pattern (e-mail, phone,
  SSN, IBAN with its mod-97 checksum, UK NINO, payment card with its Luhn checksum, dates
  distributed like birth dates) in at least ``min_share`` of the rows. Personal names have
  no reliable value pattern and are found by column name only.

Only pandas and the standard library are used.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

#: Category -> what the report calls it.
CATEGORIES = {
    "name": "personal name",
    "email": "e-mail address",
    "phone": "phone number",
    "national_id": "national id or account number",
    "birth_date": "exact birth date",
}
#: Categories that CCPA calls sensitive personal information (government ids, accounts).
SENSITIVE = frozenset({"national_id"})
#: Share of sampled non-null values that must match a pattern.
DEFAULT_MIN_SHARE = 0.8
DEFAULT_SAMPLE_ROWS = 1000

_NAME_WORDS = {"surname", "forename", "firstname", "lastname", "fullname", "givenname"}
_NAME_WORDS |= {"familyname", "middlename", "maidenname", "username"}
# "<word>_name" is a person's name only after one of these (product_name is not).
_PERSON_WORDS = {"first", "last", "full", "given", "family", "middle", "maiden", "user"}
_PERSON_WORDS |= {"customer", "client", "patient", "contact", "person", "employee", "owner"}
_PERSON_WORDS |= {"holder", "account", "member", "applicant", "student", "driver", "display"}
_EMAIL_WORDS = {"email", "mail", "emailaddress", "emails"}
_PHONE_WORDS = {"phone", "telephone", "tel", "mobile", "cellphone", "phonenumber", "msisdn"}
_PHONE_WORDS |= {"fax", "phones"}
_ID_WORDS = {"ssn", "nino", "passport", "iban", "bsn", "aadhaar", "pesel", "nif", "dni", "cpf"}
_ID_WORDS |= {"nationalid", "taxid", "personnummer", "socialsecurity", "bic", "swift"}
_ID_PAIRS = {("national", "id"), ("social", "security"), ("tax", "id"), ("id", "number")}
_ID_PAIRS |= {("account", "number"), ("card", "number"), ("credit", "card"), ("bank", "account")}
_ID_PAIRS |= {("driver", "license"), ("driving", "licence"), ("national", "insurance")}
_BIRTH_WORDS = {"dob", "birth", "birthdate", "birthday", "dateofbirth", "born"}

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,24}$")
_SSN = re.compile(r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_NINO = re.compile(r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")
_CARD = re.compile(r"^\d{13,19}$")
_DATE = re.compile(
    r"^(\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{1,2}[/.]\d{1,2}[/.]\d{4}|\d{4}/\d{1,2}/\d{1,2})$"
)
_NUMBER = re.compile(r"^[+-]?\d+([.,]\d+)?([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class PersonalColumn:
    """One column flagged as personal data.

    Attributes:
        column: The column name.
        category: A key of :data:`CATEGORIES`.
        by: ``name``, ``values`` or ``name and values``.
        detail: What matched (the pattern, or the name's words), for the report.
        match_share: Share of sampled non-null values matching the pattern (None: by name).
    """

    column: str
    category: str
    by: str
    detail: str
    match_share: float | None = None

    @property
    def sensitive(self) -> bool:
        """Whether CCPA treats the category as sensitive personal information."""
        return self.category in SENSITIVE

    @property
    def label(self) -> str:
        """The category as the report names it."""
        return CATEGORIES[self.category]


@dataclass
class Detection:
    """What :func:`detect` found: flagged columns and name hits cleared by their values."""

    flagged: list[PersonalColumn] = field(default_factory=list)
    cleared: dict[str, str] = field(default_factory=dict)
    sample_rows: int = 0
    binary: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """The flagged column names, in table order."""
        return [p.column for p in self.flagged]


def name_tokens(column: str) -> list[str]:
    """Lower-case words of a column name: ``customerEmail_2`` -> ``customer``, ``email``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(column))
    return [t for t in re.split(r"[^A-Za-z]+", spaced.lower()) if t]


def category_by_name(column: str) -> str | None:
    """The category a column's name points to, or None."""
    tokens = name_tokens(column)
    words = set(tokens)
    joined = "".join(tokens)
    pairs = set(itertools.pairwise(tokens))
    if words & _ID_WORDS or pairs & _ID_PAIRS or joined in _ID_WORDS:
        return "national_id"
    if words & _BIRTH_WORDS or joined in _BIRTH_WORDS:
        return "birth_date"
    if words & _EMAIL_WORDS:
        return "email"
    if words & _PHONE_WORDS:
        return "phone"
    person_name = tokens == ["name"] or (
        len(tokens) >= 2 and tokens[-1] == "name" and tokens[-2] in _PERSON_WORDS
    )
    if person_name or words & _NAME_WORDS or joined in _NAME_WORDS:
        return "name"
    return None


def _sample(series: pd.Series, rows: int) -> pd.Series:
    values = series.dropna()
    if isinstance(values.dtype, pd.CategoricalDtype):  # screen the categories' values
        values = values.astype(object)
    if len(values) > rows:
        values = values.sample(n=rows, random_state=0)  # deterministic, spread over the table
    return values


def _is_boolean_like(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return True
    try:
        distinct = values.nunique()
    except TypeError:  # lists or dicts in the cells
        return False
    return (
        distinct <= 2
        and values.astype(str)
        .str.lower()
        .isin({"0", "1", "true", "false", "yes", "no", "y", "n", "t", "f", "0.0", "1.0"})
        .all()
    )


def _is_text(values: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not _IBAN.match(compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _luhn_ok(text: str) -> bool:
    compact = re.sub(r"[\s-]", "", text)
    if not _CARD.match(compact):
        return False
    total = 0
    for i, ch in enumerate(reversed(compact)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _phone_ok(text: str) -> bool:
    """A formatted phone number: 7-15 digits with a leading + or separators between groups."""
    if not _PHONE.match(text) or _DATE.match(text) or _NUMBER.match(text):
        return False
    n = len(_digits(text))
    groups = len(re.findall(r"\d+", text))
    return 7 <= n <= 15 and (text.startswith("+") or "(" in text or groups >= 3)


#: National-id patterns, tried in order (an SSN also looks like a phone number).
_ID_PATTERNS = (
    ("SSN pattern", lambda s: bool(_SSN.match(s))),
    ("IBAN with a valid checksum", _iban_ok),
    ("UK National Insurance number pattern", lambda s: bool(_NINO.match(s.replace(" ", "")))),
    ("payment card number with a valid Luhn checksum", _luhn_ok),
)


def _share(texts: pd.Series, test) -> float:
    return float(texts.map(test).mean()) if len(texts) else 0.0


def parse_dates(values: pd.Series, min_share: float = DEFAULT_MIN_SHARE) -> pd.Series | None:
    """The values as timestamps when they are dates (or date strings), else None."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize(None) if values.dt.tz is not None else values
    if not _is_text(values):
        return None
    texts = values.astype(str).str.strip()
    if _share(texts, lambda s: bool(_DATE.match(s))) < min_share:
        return None
    parsed = pd.to_datetime(texts, errors="coerce", format="mixed", utc=True).dt.tz_localize(None)
    return parsed.dropna() if parsed.notna().mean() >= min_share else None


def _day_precision(dates: pd.Series) -> bool:
    """Whether the dates carry a day (not only a year: all on 1 January)."""
    return not ((dates.dt.month == 1) & (dates.dt.day == 1)).all()


def looks_like_birth_dates(dates: pd.Series, now: datetime) -> bool:
    """Dates spread like people's birth dates: all past, median >= 16 years, span >= 20 years.

    Event dates (orders, sign-ups, measurements of the last few years) span too little and
    are too recent; a table of historical events may match and can be declared not personal.
    """
    if len(dates) < 10 or dates.nunique() < 10 or not _day_precision(dates):
        return False
    age_years = (pd.Timestamp(now) - dates).dt.days / 365.25
    span = (dates.max() - dates.min()).days / 365.25
    return bool(
        (age_years > 0).all()
        and (age_years < 120).all()
        and age_years.median() >= 16
        and span >= 20
    )


def _by_values(values: pd.Series, now: datetime, min_share: float) -> tuple[str, str, float]:
    """The category, detail and match share the values point to (category "" when none)."""
    dates = parse_dates(values, min_share)
    if dates is not None:
        ok = looks_like_birth_dates(dates, now)
        return ("birth_date" if ok else ""), "dates spread like birth dates", 1.0 if ok else 0.0
    if not _is_text(values):
        return "", "", 0.0
    texts = values.astype(str).str.strip()
    for detail, test in _ID_PATTERNS:
        share = _share(texts, test)
        if share >= min_share:
            return "national_id", detail, share
    share = _share(texts, lambda s: bool(_EMAIL.match(s)))
    if share >= min_share:
        return "email", "e-mail address pattern", share
    share = _share(texts, _phone_ok)
    if share >= min_share:
        return "phone", "phone number pattern", share
    return "", "", 0.0


def _compatible(category: str, values: pd.Series, min_share: float) -> str:
    """Why the values cannot hold ``category`` ("" when they can)."""
    if values.empty:
        return "is empty"
    if _is_boolean_like(values):
        return "holds booleans (a flag, not the data itself)"
    if category == "birth_date":
        dates = parse_dates(values, min_share)
        if dates is None:
            return "holds no dates"
        return "" if _day_precision(dates) else "holds years only, not exact dates"
    if _is_text(values):
        return ""
    if category in ("phone", "national_id") and pd.api.types.is_integer_dtype(values):
        # Phone numbers and ids are often stored as integers; small counts are not.
        return "" if values.abs().median() >= 1e6 else "holds small integers"
    return f"holds {values.dtype} values"


def detect(
    frame: pd.DataFrame,
    *,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    min_share: float = DEFAULT_MIN_SHARE,
    now: datetime | None = None,
) -> Detection:
    """Flag the columns of ``frame`` that look like personal data.

    Args:
        frame: The table as loaded (before preprocessing).
        sample_rows: Non-null values sampled per column for the value patterns.
        min_share: Share of sampled values a pattern must match.
        now: Reference time for the birth-date test (default: now, UTC).

    Returns:
        The flagged columns (one category each) and the name hits cleared by their values.
    """
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    found = Detection(sample_rows=sample_rows)
    for column in frame.columns:
        values = _sample(frame[column], sample_rows)
        if len(values) and isinstance(values.iloc[0], bytes | bytearray | memoryview):
            # Encoded files (an image Dataset's ``image``): no text pattern applies; what the
            # pictures show (faces, plates) is for a human reviewer, and the model card says so.
            found.binary.append(str(column))
            continue
        named = category_by_name(column)
        by_value, detail, share = (
            ("", "", 0.0) if values.empty else _by_values(values, now, min_share)
        )
        if by_value:  # values are stronger evidence than a name
            both = by_value == named
            if both:
                detail += f" and column name ({', '.join(name_tokens(column))})"
            by = "name and values" if both else "values"
            found.flagged.append(PersonalColumn(str(column), by_value, by, detail, share))
        elif named:
            why_not = _compatible(named, values, min_share)
            if why_not:
                label = CATEGORIES[named]
                found.cleared[str(column)] = (
                    f"the name suggests personal data ({label}) but the column {why_not}"
                )
            else:
                words = ", ".join(name_tokens(column))
                found.flagged.append(
                    PersonalColumn(str(column), named, "name", f"column name ({words})")
                )
    return found
