"""Gate step 1, prepare: check every input (model and card, contexts, suite, packs, data) before anything is
evaluated.
"""

from __future__ import annotations

from pathlib import Path

from affectgate.core.errors import DataError
from affectgate.core.records import Candidate, DatasetSpec
from affectgate.datasets.cache_retention import enforce_clip_cache
from affectgate.datasets.dfew import is_synthetic
from affectgate.datasets.digest import dir_digest
from affectgate.datasets.face_screening import FaceScreening, screen_faces
from affectgate.datasets.labels import label_space
from affectgate.datasets.selection import (
    EvalSplit,
    LabelMapping,
    apply_label_map,
    check_labels_scorable,
    check_media_present,
    group_table,
    label_spec_fields,
    resolve_selection,
    restrict_split,
    select_for_gate,
)
from affectgate.datasets.validation import validate_dataset
from affectgate.evaluators import Suite, load_suite
from affectgate.gate.results import GateError, GateInputs
from affectgate.gate.workspace import audit_log, inside
from affectgate.inference.predict import (
    is_engagement_card,
)
from affectgate.policy import check_for_gate, load_context, load_packs
from affectgate.project.settings import Settings
from affectgate.zoo.external import (
    is_predictions_card,
    load_predictions_file,
    predictions_candidate,
)
from affectgate.zoo.runtime import load_candidate


# -- step 1: prepare ------------------------------------------------------------------------------
def prepare(
    *,
    settings: Settings,
    model: str,
    contexts: list[str],
    data: str,
    fold: int | None = None,
    suite: str = "release",
    require_context: bool = True,
    data_format: str = "dfew",
    split: str | None = None,
    label_map: dict[str, str | None] | None = None,
) -> GateInputs:
    """Check every input before anything is evaluated: model file and card, contexts, data, suite.

    ``data_format`` is a registered loader format (``affectgate data validate --format``); ``fold`` and
    ``split`` select what is evaluated (None: the format's default, e.g. DFEW fold 1 test,
    every CREMA-D clip). ``model`` is an export folder (model.onnx + card.yaml) or a predictions-file
    card (``affectgate.zoo.external``), whose file is validated against the selection here.
    ``require_context=False`` is for evaluation without a decision (`affectgate evaluate`).
    ``label_map`` (``--label-map``) overlays the datasheet's: the selection is scored in the model card's
    label space, a class outside it only by a declared map (:func:`affectgate.datasets.selection.apply_label_map`).
    """
    # contexts and packs resolve user project first, then built-in; what does not lint does not gate (exit 3)
    ctx = tuple(load_context(project_root=settings.project_root, context_id=c) for c in contexts)
    if not ctx and require_context:
        raise GateError("no deployment context given", fix="pass --context ID (see policies/contexts/)")
    suite_spec = load_suite(project_root=settings.project_root, name=suite)
    packs = load_packs(project_root=settings.project_root)
    check_for_gate(packs=packs, contexts=ctx)
    model_path = settings.resolve(Path(model))
    card_path = model_path if is_predictions_card(model_path) else None
    candidate = None if card_path is not None else load_candidate(path=model_path)
    root = inside(path=settings.resolve(Path(data)), root=settings.data_dir)
    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}", fix="run `affectgate data synth` or pass --data")
    fold, split = resolve_selection(fmt=data_format, fold=fold, split=split)
    # strict load first (the first bad line raises, naming file and line); then the Great Expectations suite
    loaded, selection = select_for_gate(fmt=data_format, root=root, fold=fold, split=split)
    groups = fairness_attributes(suite_spec)
    validation = validate_dataset(  # the selection just read, not read again
        loaded=loaded,
        data_root=settings.data_dir,
        require_groups=groups,
        fairness=bool(groups),
    )
    if not validation.success:
        where = (f" --fold {fold}" if fold is not None else "") + (f" --split {split}" if split else "")
        raise DataError(
            f"data validation failed, nothing evaluated: {validation.summary()}",
            fix=f"run `affectgate data validate --format {data_format} {root}{where}"
            + "".join(f" --group {g}" for g in groups)  # the groups the suite's fairness evaluator needs
            + "` (each failed check prints its own fix) and fix the data",
        )
    if not selection.samples:
        raise DataError(f"test split set_{fold} of {root} is empty", fix="check the split CSV")
    label_mapping: LabelMapping | None = None
    if candidate is not None and "discrete_emotion" in candidate.card.output_kinds:
        # scored in the card's label space; a class outside it only by a declared label map, never silently
        space = label_space(candidate.card.labels)
        loaded, label_mapping = apply_label_map(loaded=loaded, space=space, cli_map=label_map)
        selection = restrict_split(split=selection, loaded=loaded)
    table = group_table(loaded=loaded)
    external = None
    if card_path is not None:
        external = load_predictions_file(card_path=card_path, dataset=table)
        candidate = predictions_candidate(card_path=card_path, loaded=external)
    assert candidate is not None
    if label_mapping is None and "discrete_emotion" in candidate.card.output_kinds:
        label_mapping = check_labels_scorable(loaded=loaded, cli_map=label_map)
        if label_mapping.n_dropped or label_mapping.remapped:
            raise DataError(
                "a predictions-file candidate is scored on the rows its file covers; a label map that leaves "
                f"out or relabels classes ({label_mapping.summary()}) cannot be applied to it",
                fix="write the predictions file for the subset you mean to score, or evaluate an ONNX model",
            )
    if is_engagement_card(candidate.card) != (data_format == "engagement"):
        raise DataError(
            f"{candidate.card.arch} ({', '.join(candidate.card.output_kinds)} outputs) cannot be scored on a "
            f"{data_format} set",
            fix="gate an engagement-signal model on an engagement set (--format engagement, --suite engagement), "
            "and an emotion model on a labelled set",
        )
    enforce_clip_cache(settings=settings, log=audit_log(settings))  # face crops are biometric: retention, bound
    screening = None
    if external is None:
        check_media_present(split=selection)
        if any(x.face_crop for x in selection.samples):
            selection, screening = screen_split(settings=settings, split=selection, candidate=candidate)
    spec = DatasetSpec(
        name=root.name,
        format=data_format,
        root=root,
        fold=fold,
        split=selection.split,
        digest=dir_digest(root=root),
        synthetic=is_synthetic(root=root),
        n_samples=len(selection.samples),
        face_crop=screening is not None,
        face_frames=screening.frames if screening is not None else {},
        face_rejected_samples=screening.rejected if screening is not None else (),
        cluster_assumption=validation.cluster_assumption,
        face_detector=getattr(screening, "detector", None),
        **(label_spec_fields(label_mapping) if label_mapping is not None else {}),
    )
    if external is None and not suite_spec.training_fit:  # evidence integrity: never decide on training data
        from affectgate.oversight.trust import check_training_overlap

        check_training_overlap(
            folder=candidate.onnx_path.parent,
            digest=spec.digest,
            sample_ids=[x.video_name for x in selection.samples],
            split=selection.split,
            fold=fold,
        )
    return GateInputs(
        candidate=candidate,
        contexts=ctx,
        dataset=spec,
        split=selection,
        suite=suite_spec,
        packs=packs,
        validation=validation,
        table=table,
        external=external,
        card_path=card_path,
        face_screening=screening,
    )


def screen_split(*, settings: Settings, split: EvalSplit, candidate: Candidate) -> tuple[EvalSplit, FaceScreening]:
    """Face-crop every sample of a set that is not face-cropped (filling the clip cache at the model's input size);
    samples with no frame over the quality bar are left out and listed. DataError when none is left."""
    spec = candidate.card.input
    screening = screen_faces(
        samples=[(x.video_name, x.frame_dir) for x in split.samples],
        frames=spec.frames,
        size=spec.size,
        cache=settings.clip_cache_dir,
        workers=settings.ort_threads,  # the detector and decoders release the GIL: one thread per core
    )
    rejected = set(screening.rejected)
    kept = tuple(x for x in split.samples if x.video_name not in rejected)
    if not kept:
        raise DataError(
            f"no sample of {split.root} has a face over the quality bar: {screening.summary()}",
            fix="check that the media show faces, or declare face_cropped: true in datasheet.yaml if they are "
            "face crops already",
        )
    return split.model_copy(update={"samples": kept}), screening


def fairness_attributes(suite: Suite) -> list[str]:
    """Group attributes the suite's fairness evaluators need filled for every sample."""
    attrs: dict[str, None] = {}
    for entry in suite.evaluators:
        if entry.name == "fairness":
            for key in ("attributes", "gated_attributes"):
                value = entry.params.get(key) or []
                attrs.update(dict.fromkeys(value if isinstance(value, list) else [str(value)]))
    return list(attrs)
