"""A worker loads triage rules and templates once, before its pool forks, and each pool
process keeps them while building its own database engine (a pooled connection must not
cross a fork); the children of `intake run` start without the command line's checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake.settings import load_settings
from workers.app import COMPOSER, RuntimeHolder


def test_a_forked_pool_process_keeps_the_rules_and_templates_but_not_the_engine(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/intake.db", data_dir=tmp_path / "data")
    holder = RuntimeHolder(settings)
    holder._warm()  # worker_init, in the worker's main process
    parent = holder()
    rules, composer = parent.rules, parent._cache[COMPOSER]
    holder._forked()  # worker_process_init, in a pool process
    child = holder()
    assert child is not parent and child.engine is not parent.engine
    assert child.rules is rules and child._cache[COMPOSER] is composer
    assert holder() is child
    assert holder._inherited == [parent]  # kept, not closed: no connection crosses a fork
    child.dispose()
    parent.dispose()


def test_warm_ignores_another_apps_worker(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/intake.db", data_dir=tmp_path / "data")
    holder = RuntimeHolder(settings, app=object())  # type: ignore[arg-type]
    holder._warm(sender=object())
    assert holder._runtime is None


def test_the_children_of_intake_run_refuse_unknown_roles() -> None:
    from workers.children import main

    with pytest.raises(SystemExit):
        main(["scheduler"])
