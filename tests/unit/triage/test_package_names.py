"""`intake.triage` imports its parts on first use; every name it lists is there."""

from __future__ import annotations

import importlib

import pytest

import intake.triage as triage


def test_every_listed_name_resolves_to_its_home() -> None:
    assert sorted(triage.__all__) == sorted(triage._HOMES)
    for name in triage.__all__:
        assert getattr(triage, name) is getattr(importlib.import_module(triage._HOMES[name]), name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        triage.no_such_thing  # noqa: B018
