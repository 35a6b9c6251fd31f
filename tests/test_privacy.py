"""Personal data stays on the analyst's side: salted customer codes, and a manager's folder without names, phones or ids."""

import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.frame import catalog, privacy
from analysis.methods.cleaning import PERSONAL_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
CODE = re.compile(r"^C-[0-9A-F]{6,}$")
#: Embedded images and fonts: their base64 text may hold any digits.
DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+")

IDS = [f"{n:08d}" for n in range(1, 2001)] + ["北京宏桥科技有限公司", "AB", "1"]


def test_codes_are_stable_within_a_run_and_differ_between_runs():
    salt, other = privacy.new_salt(), privacy.new_salt()
    assert salt != other
    first, again = privacy.short_codes(IDS, salt), privacy.short_codes(list(reversed(IDS)), salt)
    assert first == again
    changed = privacy.short_codes(IDS, other)
    assert sum(first[i] != changed[i] for i in IDS) > 0.99 * len(IDS)


@pytest.mark.parametrize("salt", ["a fixed salt", "another fixed salt"])
def test_codes_are_unique_and_say_nothing_of_the_id(salt):
    # Fixed salts keep this check deterministic: with a random one, 4 hex digits match an id's by chance.
    codes = privacy.short_codes(IDS, salt)
    assert len(set(codes.values())) == len(IDS)
    for customer, code in codes.items():
        shown = code.removeprefix("C-")
        assert CODE.match(code), code
        assert not customer.startswith(shown) and not customer.endswith(shown), (customer, code)
        assert len(customer) < 4 or (customer[:4] not in shown and customer[-4:] not in shown), (customer, code)


def test_colliding_codes_are_lengthened_until_they_differ():
    # With 2 hex digits, 2,003 ids must collide: every code is lengthened as far as needed.
    codes = privacy.short_codes(IDS, "salt", length=2)
    assert len(set(codes.values())) == len(IDS)
    assert min(len(c) for c in codes.values()) == len("C-") + 3  # no 2-digit code is left unique
    assert max(len(c) for c in codes.values()) >= len("C-") + 5
    assert codes == privacy.short_codes(IDS, "salt", length=2)


def test_masked_table_shows_codes_and_no_personal_column():
    df = pd.DataFrame({"customer_id": ["00012345", "北京宏桥科技有限公司", None],
                       "name": ["张伟", "北京宏桥科技有限公司", "王芳"],
                       "phone": ["13800138000", "13912345678", "021-5555"], "clv": [1.0, 2.0, 3.0]})
    salt = privacy.new_salt()
    masked = privacy.mask_customers(df, salt)
    assert not PERSONAL_COLUMNS & set(masked.columns) and privacy.PERSONAL_COLUMNS == PERSONAL_COLUMNS
    text = masked.astype(str).to_string()
    for value in [*df["name"], *df["phone"], *df["customer_id"].dropna(), "0001", "北京"]:
        assert value not in text
    assert all(CODE.match(c) for c in masked["customer_id"].dropna()) and masked["customer_id"].isna().iloc[2]
    assert masked["clv"].tolist() == [1.0, 2.0, 3.0] and "name" in df  # the input is untouched
    lookup = privacy.code_lookup(df.dropna(subset=["customer_id"]), salt).set_index("code")["customer_id"]
    assert [lookup[c] for c in masked["customer_id"].dropna()] == ["00012345", "北京宏桥科技有限公司"]


def test_the_salt_is_drawn_once_and_kept_in_the_processed_folder(tmp_path):
    assert privacy.read_salt(tmp_path) is None
    salt = privacy.ensure_salt(tmp_path)
    assert privacy.ensure_salt(tmp_path) == salt == (tmp_path / catalog.MASK_SALT).read_text(encoding="utf-8").strip()


# ---------------------------------------------------------------------------------------------
# The sample run.


def _visible_text(path: Path) -> str:
    """A file's text without embedded images and fonts (base64 may contain any 8 digits)."""
    return DATA_URI.sub(" ", path.read_text(encoding="utf-8", errors="replace"))


def _found(value: str, text: str) -> bool:
    """``value`` in ``text``; digits only when not part of a longer number."""
    if value.isdigit():
        return re.search(rf"(?<!\d){re.escape(value)}(?!\d)", text) is not None
    return value in text


@pytest.mark.slow
def test_the_managers_folder_names_no_customer(sample_report, out_root):
    reports = sample_report.parent
    processed = out_root / "data/processed" / reports.name
    assert {"index.html", "manifest.json"} <= {p.name for p in reports.iterdir()}
    assert not (reports / "notebooks").exists() and (processed / "notebooks/05_allocation.html").is_file()
    assert privacy.read_salt(processed) and not any(p.name == catalog.MASK_SALT for p in reports.rglob("*"))
    master = pd.read_excel(ROOT / "data/raw/sample/customers.xlsx", dtype=str, engine="calamine")
    personal = {*master["客户编号"].dropna(), *master["客户名称"].dropna(), *master["联系电话"].dropna()}
    for path in (p for p in reports.rglob("*") if p.is_file()):
        text = _visible_text(path)
        leaked = sorted(v for v in personal if _found(v, text))
        assert not leaked, f"{path.name} shows customers' personal data: {leaked[:10]}"
    watch = pd.read_parquet(processed / "watch_list.parquet")
    codes = privacy.code_lookup(watch, privacy.read_salt(processed))["code"]
    assert sum(code in (reports / "index.html").read_text(encoding="utf-8") for code in codes) > 0
