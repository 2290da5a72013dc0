"""load_rules checks config/triage.yaml and names the file and line of every mistake."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from intake.triage import TriageConfigError, load_rules
from intake.triage.loading import DEFAULT_PATH

GOOD = DEFAULT_PATH.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "triage.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_default_config_loads_with_departments_and_targets() -> None:
    rules = load_rules()
    assert rules.department_for("payment") == "finance_support"
    assert rules.department_for("account") == "account_management"
    assert rules.department_for("content_review") == "content_review"
    assert rules.department_for("feedback") == "product"
    assert rules.department_for("other") == "general"
    assert rules.department_for("technical") == "technical_support"
    assert rules.private_categories == frozenset({"account", "payment"})
    assert rules.response_target("payment", "urgent") == dt.timedelta(minutes=30)
    assert rules.response_target("feedback", "low") == dt.timedelta(days=14)
    assert rules.response_target("payment", "urgent") < rules.response_target("payment", "normal")


def test_explicit_path_is_read(tmp_path: Path) -> None:
    changed = GOOD.replace("payment:        {department: finance_support}", "payment:        {department: money_desk}")
    assert load_rules(write(tmp_path, changed)).department_for("payment") == "money_desk"


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    broken = GOOD.replace("terms: [help, 求助", "terms: [help, ]]求助", 1)
    path = write(tmp_path, broken)
    with pytest.raises(TriageConfigError) as error:
        load_rules(path)
    assert str(path) in str(error.value)
    assert re.search(rf":{line_of(broken, ']]求助')}:", str(error.value))


def test_unknown_category_in_a_rule_names_the_line(tmp_path: Path) -> None:
    broken = GOOD.replace("    category: technical\n    weight: 4", "    category: techincal\n    weight: 4", 1)
    with pytest.raises(TriageConfigError, match=rf":{line_of(broken, 'techincal')}: rules\.0\.category: unknown category 'techincal'"):
        load_rules(write(tmp_path, broken))


def test_bad_regex_names_the_line(tmp_path: Path) -> None:
    broken = GOOD.replace("      - '(?:有人|别人", "      - '(?:有人|别人(", 1)
    with pytest.raises(TriageConfigError, match=rf":{line_of(broken, '(?:有人|别人(')}: rules\.\d+\.patterns\.1: bad regex"):
        load_rules(write(tmp_path, broken))


def test_missing_key_is_named(tmp_path: Path) -> None:
    broken = GOOD.replace("  min_category_score: 3 ", "  min_score_typo: 3 ", 1)
    with pytest.raises(TriageConfigError, match=r"scoring: missing key 'min_category_score'"):
        load_rules(write(tmp_path, broken))


def test_missing_response_target_and_bad_duration(tmp_path: Path) -> None:
    broken = GOOD.replace("account:        {urgent: 30m,", "account:        {urgent: soon,", 1)
    with pytest.raises(TriageConfigError, match=r"response_targets\.account\.urgent: bad duration 'soon'"):
        load_rules(write(tmp_path, broken))


def test_unknown_signal_in_priority_table(tmp_path: Path) -> None:
    broken = GOOD.replace("signals_any: [legal]}", "signals_any: [lawyers]}", 1)
    with pytest.raises(TriageConfigError, match=rf":{line_of(broken, 'lawyers')}: .*unknown signal 'lawyers'"):
        load_rules(write(tmp_path, broken))


def test_unknown_pii_kind_and_missing_file(tmp_path: Path) -> None:
    broken = GOOD.replace("pii_kinds: [card,", "pii_kinds: [cards,", 1)
    with pytest.raises(TriageConfigError, match="unknown PII kind 'cards'"):
        load_rules(write(tmp_path, broken))
    with pytest.raises(TriageConfigError, match="cannot read"):
        load_rules(tmp_path / "absent.yaml")
