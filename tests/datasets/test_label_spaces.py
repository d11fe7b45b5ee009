"""Native label spaces: the card's labels decide the space; MAFW's 11 classes; declared label maps; fold summaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from sklearn.metrics import accuracy_score, confusion_matrix, recall_score

from _loader_fixtures import write_jpg
from affectgate.core.errors import DataError, ModelError
from affectgate.datasets.base import load_dataset
from affectgate.datasets.labels import CANONICAL_EMOTIONS, EMOTION_VOCABULARY, MAFW_LABELS, label_space
from affectgate.datasets.selection import apply_label_map, parse_label_map, select_for_gate
from affectgate.evaluators.accuracy import evaluate_accuracy, fold_interval
from affectgate.zoo.card import load_card

MAFW_11 = tuple(MAFW_LABELS.values())
SETS = "Train & Test Set"


def test_label_space_is_the_cards_in_vocabulary_order():
    """A 7-class card is scored on the canonical seven, an 11-class card on MAFW's 11 in MAFW's order."""
    assert label_space(list(CANONICAL_EMOTIONS)) == CANONICAL_EMOTIONS
    assert label_space(["happiness", "anger"]) == CANONICAL_EMOTIONS  # missing canonical classes stay in
    assert label_space(list(reversed(MAFW_11))) == MAFW_11 == EMOTION_VOCABULARY
    assert label_space(["contempt", "anger"]) == (*CANONICAL_EMOTIONS, "contempt")
    with pytest.raises(KeyError, match="calm"):
        label_space(["calm"])


def _card(path: Path, labels: list[str]) -> Path:
    card = yaml.safe_load((Path(__file__).parents[2] / "model_zoo" / "mobilenet_v2_frame" / "card.yaml").read_text())
    card["labels"] = labels
    path.write_text(yaml.safe_dump(card))
    return path


def test_card_may_list_mafw_native_classes_but_no_unknown_name(tmp_path):
    """A card listing MAFW's 11 classes is valid; a name outside the vocabulary is a ModelError naming them."""
    assert load_card(path=_card(tmp_path / "card.yaml", list(MAFW_11))).labels == MAFW_11
    with pytest.raises(ModelError, match="outside the canonical set") as err:
        load_card(path=_card(tmp_path / "card.yaml", [*CANONICAL_EMOTIONS, "calm"]))
    assert "contempt" in err.value.fix


def _predictions(rng: np.random.Generator, n: int, space: tuple[str, ...]) -> pd.DataFrame:
    y = rng.choice(space, size=n)
    pred = np.where(rng.random(n) < 0.6, y, rng.choice(space, size=n))
    frame = pd.DataFrame({"sample_id": [str(i) for i in range(n)], "target": y, "pred": pred})
    for lbl in space:
        frame[f"p_{lbl}"] = (pred == lbl).astype(np.float32)
    return frame


def test_accuracy_on_eleven_classes_matches_sklearn():
    """WAR = micro accuracy and UAR = macro recall over MAFW's 11 classes; label order and confusion are the card's."""
    frame = _predictions(np.random.default_rng(0), 400, MAFW_11)
    res = evaluate_accuracy(predictions=frame, params={})
    assert res.label_order == MAFW_11 and len(res.confusion) == 11
    war = next(m for m in res.measurements if m.name == "war")
    uar = next(m for m in res.measurements if m.name == "uar")
    assert war.value == pytest.approx(accuracy_score(frame["target"], frame["pred"]))
    macro = recall_score(frame["target"], frame["pred"], labels=list(MAFW_11), average="macro")
    assert uar.value == pytest.approx(macro)
    assert "11-class" in uar.averaging
    assert np.array_equal(np.array(res.confusion), confusion_matrix(frame["target"], frame["pred"], labels=MAFW_11))
    recalls = {m.label for m in res.measurements if m.name == "recall"}
    assert {"contempt", "anxiety", "helplessness", "disappointment"} <= recalls
    # the same table scored in a declared 7-class space cannot silently ignore the extra classes
    with pytest.raises(ValueError, match="outside the canonical labels"):
        evaluate_accuracy(predictions=frame, params={"labels": list(CANONICAL_EMOTIONS)})


def test_fold_mean_interval_and_worst_fold():
    """Per-fold rows, the mean of folds with a Student-t interval over folds, and the worst fold."""
    rng = np.random.default_rng(1)
    frames = []
    for k in range(1, 6):
        f = _predictions(rng, 60 + 10 * k, CANONICAL_EMOTIONS)
        f["fold"] = k
        frames.append(f)
    stacked = pd.concat(frames, ignore_index=True)
    res = evaluate_accuracy(predictions=stacked, params={})
    per_fold = [accuracy_score(f["target"], f["pred"]) for f in frames]
    by = {(m.name, m.group): m for m in res.measurements}
    assert [by[("war", f"fold={k}")].value for k in range(1, 6)] == pytest.approx(per_fold)
    mean = by[("war.fold_mean", None)]
    assert mean.value == pytest.approx(np.mean(per_fold))
    lo, hi = stats.t.interval(0.95, df=4, loc=np.mean(per_fold), scale=stats.sem(per_fold))
    assert (mean.ci_low, mean.ci_high) == pytest.approx((lo, hi))
    assert "Student-t" in mean.averaging
    assert by[("war.fold_worst", None)].value == pytest.approx(min(per_fold))
    assert fold_interval([0.5]) == (None, None)


def _mafw(root: Path, *, sheet: dict | None = None) -> Path:
    """A MAFW-layout set (frame folders) whose set_1 test split holds 10 canonical and 4 MAFW-only clips."""
    test = [(f"{i:05d}", CANONICAL_EMOTIONS[i % 7]) for i in range(10)]
    test += [(f"{10 + i:05d}", extra) for i, extra in enumerate(("contempt", "anxiety", "helplessness", "contempt"))]
    folder = root / SETS / "single" / "no_caption" / "set_1"
    folder.mkdir(parents=True)
    (folder / "test.txt").write_text("".join(f"{c}.mp4 {lbl}\n" for c, lbl in test))
    (folder / "train.txt").write_text("")
    for clip, _ in test:
        write_jpg(root / "data" / "frames" / clip / "00001.jpg")
    if sheet is not None:
        (root / "datasheet.yaml").write_text(yaml.safe_dump(sheet))
    return root


def test_seven_class_model_on_mafw_needs_a_declared_map(tmp_path):
    """Without a map the four MAFW-only classes are an error naming the fix; `--label-map` drops them, counted."""
    loaded, _ = select_for_gate(fmt="mafw", root=_mafw(tmp_path), fold=1, split="test")
    with pytest.raises(DataError, match=r"contempt: 2.*4 of 14 samples, 28.6 %") as err:
        apply_label_map(loaded=loaded, space=CANONICAL_EMOTIONS)
    assert "--label-map anxiety=drop,contempt=drop,helplessness=drop" in err.value.fix
    kept, mapping = apply_label_map(
        loaded=loaded, space=CANONICAL_EMOTIONS, cli_map=parse_label_map("contempt=drop, anxiety=drop,helplessness=-")
    )
    assert len(kept.samples) == 10 and set(kept.samples["label"]) <= set(CANONICAL_EMOTIONS)
    assert mapping.dropped == {"anxiety": 1, "contempt": 2, "helplessness": 1} and mapping.n_selected == 14
    assert "4 of 14 samples (28.6 %) left out" in mapping.summary() and "--label-map" in mapping.summary()
    # an 11-class model needs no map: nothing is dropped
    same, eleven = apply_label_map(loaded=loaded, space=MAFW_11)
    assert len(same.samples) == 14 and eleven.n_dropped == 0


def test_datasheet_label_map_is_honoured_by_every_loader(tmp_path):
    """The datasheet's label_map (null = leave out, a name = relabel) applies to MAFW, not only to manifests."""
    sheet = {"label_map": {"contempt": "disgust", "anxiety": None, "helplessness": None}}
    loaded, _ = select_for_gate(fmt="mafw", root=_mafw(tmp_path, sheet=sheet), fold=1, split="test")
    kept, mapping = apply_label_map(loaded=loaded, space=CANONICAL_EMOTIONS)
    assert mapping.source == "datasheet.yaml" and mapping.remapped == {"contempt->disgust": 2}
    assert mapping.dropped == {"anxiety": 1, "helplessness": 1} and len(kept.samples) == 12
    with pytest.raises(DataError, match="outside the model's label space"):
        apply_label_map(loaded=loaded, space=CANONICAL_EMOTIONS, cli_map={"contempt": "calm"})
    with pytest.raises(DataError, match="not 'from=to'"):
        parse_label_map("contempt")
    assert load_dataset(fmt="mafw", root=tmp_path, fold=1, split="test").label_names == MAFW_11


def test_manifest_datasheet_null_leaves_a_class_out_counted(tmp_path):
    """A manifest's datasheet `label_map: {contempt: null}` keeps the class through loading and validation and
    the gate's label mapping leaves it out, counted; without the entry the class is a loader problem."""
    import csv

    from affectgate.datasets.synth.manifest_layout import ManifestSynthConfig, generate_manifest_set

    root = tmp_path / "private"
    generate_manifest_set(root=root, config=ManifestSynthConfig())
    rows = list(csv.DictReader((root / "manifest.csv").open()))
    for row in rows[:3]:
        row["label"] = "contempt"
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert load_dataset(fmt="manifest", root=root).skipped_counts()  # undeclared: rejected by the loader
    sheet = yaml.safe_load((root / "datasheet.yaml").read_text())
    sheet["label_map"] = {**(sheet.get("label_map") or {}), "contempt": None}
    (root / "datasheet.yaml").write_text(yaml.safe_dump(sheet))
    loaded, _ = select_for_gate(fmt="manifest", root=root)
    assert (loaded.samples["label"] == "contempt").sum() == 3 and "contempt" in loaded.label_names
    kept, mapping = apply_label_map(loaded=loaded, space=CANONICAL_EMOTIONS)
    assert mapping.dropped == {"contempt": 3} and len(kept.samples) == len(rows) - 3
