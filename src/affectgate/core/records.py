"""Core records that flow through the gate (DESIGN.md "Core records").

All are pydantic v2, frozen, ``extra="forbid"``; every field says what it means.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OutputKind = Literal["discrete_emotion", "valence_arousal", "action_units", "engagement", "fatigue"]
Verdict = Literal["allow", "block", "review"]
Severity = Literal["block", "review", "warn"]


class Record(BaseModel):
    """Base: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class AudioSpec(Record):
    """The optional second ONNX input of an audio-visual model: a log-mel spectrogram of the clip's audio."""

    name: str = Field(default="audio", description="ONNX input name of the audio tensor.")
    representation: Literal["log_mel"] = Field(
        default="log_mel", description="What the tensor holds: natural-log mel power, layout (N, n_mels, frames)."
    )
    sample_rate: int = Field(gt=0, description="Waveform sample rate in Hz before the STFT (resample first).")
    seconds: float = Field(gt=0, description="Audio length in seconds (cropped or zero-padded).")
    n_mels: int = Field(gt=0, description="Mel bands.")
    n_fft: int = Field(gt=0, description="STFT window length in samples (Hann window).")
    hop: int = Field(gt=0, description="STFT hop in samples.")
    fmin: float = Field(default=0.0, ge=0, description="Lowest mel filter edge in Hz.")
    fmax: float | None = Field(default=None, description="Highest mel filter edge in Hz (None = Nyquist).")


class InputSpec(Record):
    """What the model's ONNX input expects."""

    name: str = Field(description="ONNX input name.")
    layout: Literal["NTCHW"] = Field(description="Tensor layout: batch, time, channel, height, width.")
    frames: int = Field(gt=0, description="Frames per clip, uniformly sampled.")
    size: int = Field(gt=0, description="Square frame side in pixels after resize.")
    fps: float | None = Field(default=None, description="Nominal frame rate the model was designed for.")
    color: Literal["RGB"] = Field(default="RGB", description="Channel order after decoding.")
    mean: tuple[float, float, float] = Field(description="Per-channel mean subtracted after scaling to [0, 1].")
    std: tuple[float, float, float] = Field(description="Per-channel std divided after mean subtraction.")
    audio: AudioSpec | None = Field(
        default=None, description="Second input (audio) of audio-visual models; None for video-only models."
    )


class OutputSpec(Record):
    """One ONNX output and what it means."""

    name: str = Field(description="ONNX output name.")
    kind: OutputKind = Field(description="What the output measures.")
    level: Literal["clip", "frame"] = Field(description="Clip-level or per-frame output.")
    activation: Literal["softmax", "logits", "none"] = Field(description="Whether values are probabilities.")


class PaperFigure(Record):
    """A figure reported in the literature for the technique: a sanity band, never a gate."""

    benchmark: str = Field(description="Benchmark name, e.g. DFEW.")
    metric: str = Field(description="Metric name, e.g. WAR.")
    value: float = Field(description="Reported value in percent.")
    source: str = Field(description="Citation.")


class ModelCard(Record):
    """``model_zoo/<arch>/card.yaml``: labels in output order, input spec, intended use."""

    arch: str = Field(description="Architecture id, the folder name under model_zoo/.")
    technique: str = Field(description="One of the brief's techniques, e.g. '2d_cnn_per_frame'.")
    title: str = Field(description="Human-readable name.")
    labels: tuple[str, ...] = Field(description="Canonical label names in the model's output order.")
    output_kinds: tuple[OutputKind, ...] = Field(description="Every kind of output the model emits.")
    input: InputSpec = Field(description="Input tensor spec.")
    outputs: tuple[OutputSpec, ...] = Field(description="ONNX outputs and their meaning.")
    preprocessing: str = Field(description="Preprocessing steps in words, applied by affectgate.")
    intended_use: str = Field(description="What the model is meant for and not meant for.")
    licence: str = Field(description="Licence of the code and weights.")
    paper: str = Field(default="", description="Reference of the technique.")
    paper_figures: tuple[PaperFigure, ...] = Field(default=(), description="Figures reported in the literature.")
    parity_tolerance: float = Field(default=1e-4, description="Max abs diff torch vs ONNX allowed at export.")
    train: dict[str, float | int | str] = Field(default_factory=dict, description="Demo training config.")


class Candidate(Record):
    """An exported model ready to be gated."""

    name: str = Field(description="Registered model name in MLflow.")
    card: ModelCard = Field(description="The model card.")
    onnx_path: Path = Field(description="Path of the ONNX file.")
    onnx_sha256: str = Field(description="sha256 of the ONNX file, checked before every use.")
    onnx_outputs: tuple[str, ...] = Field(description="Output names read from the ONNX graph itself.")
    trained_on: str = Field(default="", description="Dataset digest the weights were trained on.")
    precision: Literal["fp32", "int8"] = Field(default="fp32", description="Weight precision of the ONNX graph.")
    fp32_onnx_path: Path | None = Field(
        default=None, description="int8 variants: the fp32 model it was quantised from (its accuracy drop is measured)."
    )
    fp32_sha256: str | None = Field(default=None, description="int8 variants: sha256 of that fp32 model.")


class DatasetSpec(Record):
    """Which data an evaluation ran on."""

    name: str = Field(description="Dataset name, e.g. 'synth_dfew'.")
    format: str = Field(
        min_length=1, description="On-disk layout: a registered loader format (dfew, manifest, ravdess, cremad, ...)."
    )
    root: Path = Field(description="Dataset root folder.")
    fold: int | None = Field(ge=1, description="Fold (DFEW set_N, RAVDESS fold, manifest fold); None = no fold.")
    split: Literal["train", "test", "validation", "all"] = Field(
        description="Split evaluated ('all' for sets without a split, e.g. CREMA-D)."
    )
    digest: str = Field(description="DVC-compatible md5 of the dataset folder ('<md5>.dir').")
    synthetic: bool = Field(description="True when generated by affectgate's synthetic generator.")
    n_samples: int = Field(ge=0, description="Number of clips evaluated.")
    face_crop: bool = Field(
        default=False, description="True when the media are not face crops: faces were detected and cropped."
    )
    face_frames: dict[str, int] = Field(
        default_factory=dict,
        description="With face_crop: frames per face-quality outcome (ok, no_face, face_too_small, too_blurry).",
    )
    face_rejected_samples: tuple[str, ...] = Field(
        default=(), description="With face_crop: samples left out of the evaluation, no frame over the bar."
    )


class Measurement(Record):
    """One number with its meaning."""

    name: str = Field(description="Metric name, e.g. 'uar'.")
    value: float | None = Field(description="Value (fractions in [0, 1] for rates); None if undefined.")
    higher_is_better: bool = Field(description="Direction.")
    averaging: str = Field(default="", description="How it averages: 'micro', 'macro over classes', ...")
    group: str | None = Field(default=None, description="Group slice, 'attribute=value', or None for all.")
    label: str | None = Field(default=None, description="Class the measurement is about, if any.")
    n: int = Field(ge=0, description="Number of samples behind the value.")
    ci_low: float | None = Field(default=None, description="Lower bound of the confidence interval.")
    ci_high: float | None = Field(default=None, description="Upper bound of the confidence interval.")


class EvalResult(Record):
    """What one evaluator produced. A crash is data: status 'failed' with the error."""

    evaluator: str = Field(description="Registered evaluator name.")
    status: Literal["ok", "failed", "skipped"] = Field(description="Outcome.")
    measurements: tuple[Measurement, ...] = Field(default=(), description="The numbers.")
    error: str | None = Field(default=None, description="Error message when failed, reason when skipped.")
    params: dict[str, float | int | str | bool | None | list[str]] = Field(
        default_factory=dict, description="Evaluator parameters from the suite."
    )
    label_order: tuple[str, ...] = Field(default=(), description="Label order of per-class outputs.")
    confusion: tuple[tuple[int, ...], ...] | None = Field(
        default=None, description="Confusion matrix, rows = true, columns = predicted, in label_order."
    )


class EvalReport(Record):
    """All evaluator results for one (candidate, dataset, target), with provenance."""

    run_id: str = Field(description="affectgate run id (folder name).")
    candidate: str = Field(description="Candidate name.")
    onnx_sha256: str = Field(description="ONNX file digest.")
    dataset: DatasetSpec = Field(description="Data evaluated.")
    target: str = Field(description="Hardware target, e.g. 'cpu'.")
    suite: str = Field(description="Suite name.")
    suite_version: str = Field(description="Suite version.")
    results: tuple[EvalResult, ...] = Field(description="One result per evaluator in the suite.")
    synthetic_data: bool = Field(description="Mirrors dataset.synthetic so no report omits it.")
    created: datetime = Field(description="UTC time of the report.")
    affectgate_version: str = Field(description="Package version that produced it.")

    def metric(self, name: str, *, group: str | None = None) -> Measurement | None:
        """The first measurement with this name (and group), or None."""
        for result in self.results:
            for m in result.measurements:
                if m.name == name and m.group == group:
                    return m
        return None


class UseContext(Record):
    """A deployment context declared by the product owner (``policies/contexts/<id>.yaml``)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Stable id; also the MLflow alias name.")
    title: str = Field(description="Human-readable description.")
    regions: tuple[str, ...] = Field(min_length=1, description="ISO country codes or 'EU'; where it is used.")
    sector: Literal[
        "workplace",
        "education",
        "healthcare",
        "safety",
        "market_research",
        "consumer_app",
        "law_enforcement",
        "research",
    ] = Field(description="Sector of use (workplace includes recruitment, probation, meetings).")
    purpose: Literal["medical", "safety", "other"] = Field(description="Intended purpose.")
    purpose_justification: str = Field(default="", description="Reference to the medical/safety justification.")
    observed: tuple[Literal["workers", "candidates", "students", "customers", "patients", "drivers", "public"], ...] = (
        Field(min_length=1, description="Who is observed.")
    )
    output_kinds_used: tuple[OutputKind, ...] = Field(min_length=1, description="Model outputs used.")
    mapped_to_emotions: bool = Field(
        default=True, description="Whether outputs are mapped to emotions downstream (Recital 18)."
    )
    input_modalities: tuple[Literal["face_video", "voice", "physiological", "keystrokes", "posture", "text"], ...] = (
        Field(
            default=("face_video",),
            min_length=1,
            description=(
                "What the emotions are inferred from. All but 'text' are biometric data (Art. 3(34)); the "
                "Commission guidelines count keystrokes and posture as biometric, so they are in Art. 3(39)'s scope."
            ),
        )
    )
    personal_training_only: bool = Field(
        default=False,
        description=(
            "Results go only to the person trained (e.g. an agent's own coaching), are not shared with HR, managers "
            "or teachers and cannot affect assessment or promotion (Commission guidelines on Art. 5(1)(f)): "
            "sends the release to human review instead of a block."
        ),
    )
    require_annotator_agreement: bool = Field(
        default=False,
        description="Acceptance requires agreement with human annotators (Cohen's kappa); a missing kappa is an error.",
    )
    realtime: bool = Field(default=False, description="Real-time use (latency budget applies).")
    target: str = Field(default="cpu", description="Hardware target the context ships to.")
    gdpr_art9_basis: str | None = Field(default=None, description="GDPR Art. 9(2) basis, e.g. 'explicit_consent'.")
    dpia_id: str | None = Field(default=None, description="Data-protection impact assessment reference.")
    oversight_plan: str | None = Field(default=None, description="Human-oversight plan reference (Art. 14).")
    risk_management_plan: str | None = Field(
        default=None, description="Risk-management system reference (Art. 9), for high-risk uses."
    )
    special_category_safeguards: str | None = Field(
        default=None,
        description=(
            "Reference of the Art. 10(5) safeguards for special-category data (ethnicity, skin-tone labels) processed "
            "to detect and correct bias: pseudonymisation, access control, deletion after use."
        ),
    )
    monitoring_plan: str | None = Field(
        default=None,
        description="Post-market monitoring plan reference (Art. 72), e.g. the drift suite and its schedule.",
    )
    exposure_notice: bool = Field(default=False, description="Exposed persons are informed (Art. 50(3)).")
    log_retention_days: int = Field(default=180, ge=0, description="Retention of automatic logs (Art. 12).")
    enforce_early: bool = Field(default=False, description="Apply rules before their effective_from date.")
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Per-context overrides of the quality pack's default thresholds."
    )


class RuleOutcome(Record):
    """The outcome of one rule for one context."""

    rule_id: str = Field(description="Stable rule id, e.g. 'euaia.art5_1f.workplace_education'.")
    pack: str = Field(description="Policy pack name.")
    title: str = Field(description="Rule title.")
    article: str = Field(description="Legal or policy citation.")
    status: Literal["pass", "fail", "not_applicable", "not_yet_effective", "error"] = Field(
        description="Outcome of the rule."
    )
    severity: Severity = Field(description="What a failure means for the verdict.")
    effective_from: date = Field(description="Date from which the rule applies.")
    message: str = Field(description="Explanation for a compliance officer.")
    evidence: dict[str, str | float | int | bool | None] = Field(
        default_factory=dict, description="Values the rule looked at."
    )


class PolicyDecision(Record):
    """The verdict for one (report, context, packs), with every rule outcome."""

    context_id: str = Field(description="Deployment context id.")
    verdict: Verdict = Field(description="allow, block or review.")
    outcomes: tuple[RuleOutcome, ...] = Field(description="Every rule's outcome, in evaluation order.")
    pack_digests: dict[str, str] = Field(description="sha256 of each policy pack used.")
    as_of: date = Field(description="Date the rules were evaluated for.")

    @property
    def reasons(self) -> tuple[RuleOutcome, ...]:
        """Failed or errored rules, the reasons behind a non-allow verdict."""
        return tuple(o for o in self.outcomes if o.status in ("fail", "error"))
