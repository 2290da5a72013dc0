"""The learned side: train -> save -> load -> classify on a small labelled folder, automated
mail from the shared corpus is `other` and not private."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intake.messages import InboundMessage
from intake.triage import load_rules, triage_message
from intake.triage.dataset import read_folder, split
from intake.triage.model import MODEL_FILE, ModelError, load_model, save_model
from intake.triage.training import Sample, train, training_samples

from tests.support.shared import need_shared

SMALL = {
    "sms_001.txt": ("my payout has not arrived, withdrawal pending for a week", "payment", "high"),
    "sms_002.txt": ("提现一直没到账，钱呢", "payment", "high"),
    "sms_003.txt": ("the app crashes every time I open it", "technical", "normal"),
    "sms_004.txt": ("App一打开就闪退", "technical", "normal"),
    "sms_005.txt": ("please add a dark mode, love the app", "feedback", "low"),
    "sms_006.txt": ("建议增加夜间模式", "feedback", "low"),
}


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "small"
    folder.mkdir()
    labels = {}
    for name, (text, category, priority) in SMALL.items():
        (folder / name).write_text(text, encoding="utf-8")
        labels[name] = {"channel": "sms", "language": "en", "category": category, "private": False,
                        "priority": priority, "pii": []}
    (folder / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    return folder


def _sms(text: str) -> InboundMessage:
    return InboundMessage(channel="sms", sender="", text=text, new_text=text)


def test_train_save_load_classify_round_trip(tmp_path: Path) -> None:
    model = train(training_samples(read_folder(_folder(tmp_path))))
    data_dir = tmp_path / "data"
    save_model(model, data_dir / MODEL_FILE)
    rules = load_rules(data_dir=data_dir)
    assert rules.model is not None and rules.model.vocabulary == model.vocabulary
    categories, _ = rules.model.predict("the app crashes when I open it")
    assert max(categories, key=categories.__getitem__) == "technical"
    triage = triage_message(_sms("the app crashes when I open it"), rules)
    assert any(reason.startswith("decided:") for reason in triage.reasons)


def test_a_correction_changes_a_near_identical_message(tmp_path: Path) -> None:
    base = list(training_samples(read_folder(_folder(tmp_path))))
    text = "the app keeps freezing on my old phone"
    before = train(base).predict(text)[0]
    corrected = train([*base, Sample(text + " again", "feedback", "low", weight=5.0, source="correction")])
    after = corrected.predict(text)[0]
    assert max(after, key=after.__getitem__) == "feedback" != max(before, key=before.__getitem__)


def test_a_model_file_runs_no_code(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelError):
        load_model(path)


def test_split_is_fixed_and_stratified(tmp_path: Path) -> None:
    examples = read_folder(_folder(tmp_path))
    held, tune = split(examples, "heldout"), split(examples, "tune")
    assert {e.key for e in held}.isdisjoint({e.key for e in tune})
    assert len(held) + len(tune) == len(examples)
    assert [e.key for e in split(examples, "heldout")] == [e.key for e in held]


def test_automated_mail_from_the_corpus_is_other_and_not_private() -> None:
    need_shared("corpus", "email", "INDEX.tsv")
    from intake.normalize.email import parse_email

    corpus = need_shared("corpus", "email")
    rules = load_rules()
    checked = 0
    for line in (corpus / "INDEX.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        path, _, tags = line.split("\t")
        if not {"bounce", "auto-submitted:auto-replied", "report:delivery-status"} & set(tags.split(",")):
            continue
        msg = parse_email((corpus / path).read_bytes())
        triage = triage_message(msg, rules)
        assert triage.category == "other", f"{path}: {triage.category} {triage.reasons}"
        assert not triage.private, f"{path}: private {triage.private_reasons}"
        checked += 1
    assert checked >= 20


def test_broken_labelled_folders_are_one_clear_error(tmp_path: Path) -> None:
    from intake.triage.dataset import DatasetError

    folder = _folder(tmp_path)
    (folder / "sms_001.txt").unlink()
    with pytest.raises(DatasetError, match="sms_001.txt"):
        read_folder(folder)
    (folder / "labels.json").write_text(json.dumps({"sms_002.txt": {"channel": "sms"}}), encoding="utf-8")
    with pytest.raises(DatasetError, match="without a category"):
        read_folder(folder)


def test_a_model_with_a_forged_memory_is_refused(tmp_path: Path) -> None:
    import dataclasses

    import numpy as np

    from intake.triage.model import Memory

    model = train(training_samples(read_folder(_folder(tmp_path))))
    forged = Memory(np.array([0, 3]), np.array([0, 1, 10**9]), np.ones(3, dtype=np.float32), ("payment",), ("urgent",))
    path = tmp_path / "forged.npz"
    save_model(dataclasses.replace(model, memory=forged), path)
    with pytest.raises(ModelError, match="memory"):
        load_model(path)


def test_a_megabyte_message_costs_the_model_its_first_pages_only(tmp_path: Path) -> None:
    import time

    model = train(training_samples(read_folder(_folder(tmp_path))))
    started = time.perf_counter()
    categories, priorities = model.predict("crash " * 200_000)
    assert time.perf_counter() - started < 5
    assert abs(sum(categories.values()) - 1) < 1e-4 and abs(sum(priorities.values()) - 1) < 1e-4


def test_the_model_alone_keeps_an_account_case_private() -> None:
    from intake.triage.decide import MODEL_PRIVATE_SHARE, Decision

    decision = Decision("other", "rules+model", {"other": 0.7, "account": 0.3},
                        {"account": MODEL_PRIVATE_SHARE, "other": 1 - MODEL_PRIVATE_SHARE})
    private = frozenset({"account", "payment"})
    assert decision.share(private) < 0.4 <= decision.model_share(private)
    assert Decision("other", "rules").model_share(private) == 0.0
