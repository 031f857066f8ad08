"""Numbering plans: normalisation and classification, as data."""

import shutil

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.numbering import CATEGORIES, NumberingPlan
from detector.rulefiles import rules_dir


@pytest.fixture(scope="module")
def cn():
    return NumberingPlan.load("cn")


@pytest.mark.parametrize("number,category,country,e164", [
    ("+85512345678", "international", "KH", "85512345678"),
    ("0085512345678", "international", "KH", "85512345678"),
    ("+95 9 123 456 789", "international", "MM", "959123456789"),
    ("13812345678", "mobile", "CN", "8613812345678"),
    ("+8613812345678", "mobile", "CN", "8613812345678"),
    ("008613812345678", "mobile", "CN", "8613812345678"),
    ("02161234567", "fixed", "CN", "862161234567"),
    ("075523456789", "fixed", "CN", "8675523456789"),
    ("61234567", "fixed", "CN", "8661234567"),
    ("95353", "service", "CN", "8695353"),
    ("952306", "service", "CN", "86952306"),
    ("96110", "service", "CN", "8696110"),
    ("10086", "service", "CN", "8610086"),
    ("4008123123", "service", "CN", "864008123123"),
    ("1069012345", "sms_port", "CN", "861069012345"),
    ("10655123", "sms_port", "CN", "8610655123"),
])
def test_cn_classification(cn, number, category, country, e164):
    info = cn.classify(number)
    assert (info.category, info.country, info.e164) == (category, country, e164)


def test_fixed_line_area_codes(cn):
    assert cn.classify("02161234567").area == "21"
    assert cn.classify("01061234567").area == "10"
    assert cn.classify("075523456789").area == "755"


@pytest.mark.parametrize("number,reason", [
    ("+99912345678", "unassigned country code"),
    ("+8551234567890123", "longer than E.164 allows"),
    ("+855123", "too short"),
    ("+86123", "too short"),
    ("+8612345678901", "impossible domestic number"),
    ("abc", "not a number"),
    ("123456789012345", "impossible length"),
    ("+85512a45678", "non-digits after international prefix"),
])
def test_malformed_numbers_say_why(cn, number, reason):
    info = cn.classify(number)
    assert info.category == "malformed"
    assert info.reason == reason


def test_second_plan_is_data_not_code():
    nanp = NumberingPlan.load("nanp")
    assert nanp.classify("2125550123").category == "fixed"
    assert nanp.classify("12125550123").area == "212"
    assert nanp.classify("0118613812345678").category == "international"
    assert nanp.classify("0118613812345678").country == "CN"
    assert nanp.classify("+12125550123").category == "fixed"
    assert nanp.classify("8005550123").category == "service"
    # the China plan reads the same NANP number as international
    assert NumberingPlan.load("cn").classify("0012125550123").country == "US"


def test_plan_change_in_yaml_changes_behaviour(tmp_path):
    root = tmp_path / "rules"
    shutil.copytree(rules_dir(), root)
    plan_file = root / "numbering" / "cn.yaml"
    spec = yaml.safe_load(plan_file.read_text())
    spec["categories"] = [c for c in spec["categories"] if c["name"] != "sms_port"]
    plan_file.write_text(yaml.safe_dump(spec))
    assert NumberingPlan.load("cn").classify("1069012345").category == "sms_port"
    assert NumberingPlan.load("cn", rules=root).classify("1069012345").category != "sms_port"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40))
def test_any_text_classifies_without_error(text):
    info = NumberingPlan.load("cn").classify(text)
    assert info.category in CATEGORIES
    assert info.presented == text
    if info.category == "malformed":
        assert info.reason
    else:
        assert info.e164 and info.e164.isdigit() and len(info.e164) <= 17


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_mobile_forms_normalise_to_one_number(mobile):
    cn = NumberingPlan.load("cn")
    forms = [mobile, "+86" + mobile, "0086" + mobile, "+86 " + mobile[:3] + "-" + mobile[3:]]
    assert {cn.classify(f).e164 for f in forms} == {"86" + mobile}
    assert {cn.classify(f).category for f in forms} == {"mobile"}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["855", "95", "63", "44", "1", "61", "7"]),
       st.from_regex(r"[1-9][0-9]{6,9}", fullmatch=True))
def test_international_prefix_and_plus_agree(cc, rest):
    cn = NumberingPlan.load("cn")
    a, b = cn.classify("+" + cc + rest), cn.classify("00" + cc + rest)
    assert (a.category, a.e164, a.country) == (b.category, b.e164, b.country)
    assert a.category == "international"
