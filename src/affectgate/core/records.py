"""Core records that flow through the gate (DESIGN.md "Core records").

All are pydantic v2, frozen, ``extra="forbid"``; every field says what it means.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: What a model output measures. Art. 3(39) and Recital 18: emotions *or intentions* inferred from biometric data
#: are emotion recognition (discrete_emotion, valence_arousal, stress, intentions); physical states (pain,
#: fatigue), expressions (action_units) and engagement signals are not, unless they are mapped to emotions.
OutputKind = Literal[
    "discrete_emotion", "valence_arousal", "action_units", "engagement", "fatigue", "pain", "stress", "intentions"
]
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
    cluster_assumption: str | None = Field(
        default=None,
        description="Set when the release has no subject ids (DFEW, FERV39k, `subjects: unknown`): the stated "
        "assumption that each clip is its own cluster, which every subject-clustered interval then makes.",
    )
    face_detector: str | None = Field(
        default=None, description="With face_crop: the face detector and its version that produced the crops."
    )
    label_space: tuple[str, ...] = Field(
        default=(), description="Label space the selection was scored in: the model card's (empty: none scored)."
    )
    label_map: dict[str, str | None] = Field(
        default_factory=dict, description="Declared dataset label -> label of the space, None = left out."
    )
    label_map_source: str = Field(default="", description="Where the label map was declared (datasheet, CLI).")
    labels_dropped: dict[str, int] = Field(
        default_factory=dict, description="Samples left out per dataset class by the declared label map."
    )
    n_labelled_selected: int | None = Field(
        default=None, description="Labelled samples in the selection before the label map (the dropped share's base)."
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
    submitter: str | None = Field(
        default=None, description="Who submitted the gate run (an authenticated identity, or the service)."
    )
    submitter_kind: Literal["human", "service"] | None = Field(
        default=None, description="human: authenticated person; service: only the gate's service identity."
    )
    submitter_method: str | None = Field(
        default=None, description="How the submitter was established: oidc, login-token, demo-flag or service."
    )

    def metric(self, name: str, *, group: str | None = None) -> Measurement | None:
        """The first measurement with this name (and group), or None."""
        for result in self.results:
            for m in result.measurements:
                if m.name == name and m.group == group:
                    return m
        return None


def _region_code(code: str) -> str:
    """An ISO 3166-1 alpha-2 code, an EU code (EL, UK) or EU / EEA; anything else is refused."""
    from affectgate.core.regions import resolve_region

    resolve_region(code)
    return code


#: A region code, checked against ISO 3166-1 (pycountry) and the EU's own codes (affectgate.core.regions).
RegionCode = Annotated[str, AfterValidator(_region_code)]
#: Who the observed persons are. 'children' are minors outside a school; 'pupils' are minors at school.
ObservedPersons = Literal[
    "workers", "candidates", "students", "pupils", "children", "customers", "patients", "drivers", "public"
]
#: How the observed persons relate to the deployer: the relationship, not the sector label, decides Art. 5(1)(f).
Relationship = Literal[
    "employee",
    "contractor",
    "platform_worker",
    "job_applicant",
    "trainee",
    "student",
    "customer",
    "consumer",
    "patient",
    "public",
]
#: The Annex III high-risk uses of points 3 (education) and 4 (employment) that a non-emotion system may have.
AnnexIIIUse = Literal[
    "education_admission",
    "learning_assessment",
    "education_level_assessment",
    "exam_proctoring",
    "recruitment_selection",
    "work_decisions",
    "task_allocation",
    "worker_monitoring",
]
#: Art. 2(3), 2(6) and 2(8) exclusions from the AI Act's scope.
Exclusion = Literal["military_defence_national_security", "scientific_research", "pre_market_development"]


class UseContext(Record):
    """A deployment context declared by the product owner (``contexts/<id>.yaml``).

    Facts the rules need but the owner has not declared stay ``None``: the engine then asks (review) rather
    than assume the favourable answer. ``docs/policy.md`` lists which rule reads which field.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Stable id; also the MLflow alias name.")
    title: str = Field(description="Human-readable description.")
    regions: tuple[RegionCode, ...] = Field(
        min_length=1,
        description=(
            "Where the system is placed on the market, put into service or used: ISO 3166-1 alpha-2 codes, the EU's "
            "own codes (EL for Greece, UK), or 'EU' / 'EEA'. Quote 'NO' (Norway): YAML reads a bare NO as false."
        ),
    )
    output_used_in: tuple[RegionCode, ...] | None = Field(
        default=None,
        description=(
            "Where the system's output is used (Art. 2(1)(c)): a provider or deployer outside the Union is in scope "
            "when the output is used in the Union. None = not declared: a deployment outside the EU goes to review."
        ),
    )
    role: Literal["provider", "deployer", "provider_and_deployer"] | None = Field(
        default=None,
        description=(
            "Who declares the context: the provider (Art. 16: conformity assessment, declaration, CE marking, "
            "registration) or the deployer (Art. 26). None = not declared: a high-risk use goes to review."
        ),
    )
    sector: Literal[
        "workplace",
        "education",
        "healthcare",
        "safety",
        "market_research",
        "consumer_app",
        "law_enforcement",
        "research",
        "military",
    ] = Field(description="Sector of use (workplace includes recruitment, probation, meetings).")
    purpose: Literal["medical", "safety", "other"] = Field(
        description="Intended purpose; medical and safety claim the Art. 5(1)(f) exception and need their evidence."
    )
    purpose_justification: str = Field(default="", description="Free-text note on the medical/safety justification.")
    medical_evidence: str | None = Field(
        default=None,
        description=(
            "Reference of the medical context behind purpose 'medical': clinical oversight (a clinical protocol, a "
            "responsible clinician) or a medical-device / clinical-use reference. Well-being, stress or burnout "
            "monitoring of workers is not medical (Commission Guidelines C(2025) 884). None = not evidenced."
        ),
    )
    safety_evidence: str | None = Field(
        default=None,
        description=(
            "Reference of the safety case behind purpose 'safety', tied to a risk to life or health (e.g. an "
            "occupational-safety risk assessment). Productivity or general monitoring is not safety. "
            "None = not evidenced."
        ),
    )
    observed: tuple[ObservedPersons, ...] = Field(min_length=1, description="Who is observed.")
    relationship: tuple[Relationship, ...] | None = Field(
        default=None,
        description=(
            "How the observed persons relate to the deployer. Persons working for it (employees, contractors, "
            "platform workers), applying to work for it, or studying at it are protected by Art. 5(1)(f) whatever "
            "the sector. None = not declared: drivers or children observed by emotion recognition go to review."
        ),
    )
    annex_iii_uses: tuple[AnnexIIIUse, ...] | None = Field(
        default=None,
        description=(
            "What the output is used for among the Annex III points 3 (admission, learning assessment, level "
            "assessment, proctoring) and 4 (recruitment, work decisions, task allocation, monitoring of workers); "
            "[] = none. None = not declared: a system observing workers or students goes to review."
        ),
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
    exclusion: Exclusion | None = Field(
        default=None,
        description=(
            "An exclusion from the AI Act claimed for the system: Art. 2(3) used exclusively for military, defence "
            "or national security; Art. 2(6) developed and put into service for the sole purpose of scientific "
            "research; Art. 2(8) research, testing or development before being placed on the market or put into "
            "service (testing in real-world conditions is not excluded). Needs exclusion_evidence."
        ),
    )
    exclusion_evidence: str | None = Field(
        default=None, description="Reference that shows the exclusion applies (mandate, research protocol, ...)."
    )
    law_enforcement_authorisation: str | None = Field(
        default=None,
        description=(
            "Reference of the law that permits the system to detect, prevent or investigate criminal offences "
            "(the Art. 50(3) carve-out from the exposure notice); only a law_enforcement sector may use it."
        ),
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
    gdpr_art9_basis: str | None = Field(
        default=None,
        description=(
            "GDPR Art. 9(2) exception relied on, one of the closed list (explicit_consent, employment_law, "
            "vital_interests, not_for_profit_body, made_public, legal_claims, substantial_public_interest, "
            "health_care, public_health, research_statistics); legitimate interest is an Art. 6 basis, not one of them."
        ),
    )
    dpia_id: str | None = Field(default=None, description="Data-protection impact assessment reference.")
    oversight_plan: str | None = Field(default=None, description="Human-oversight plan reference (Art. 14).")
    risk_management_plan: str | None = Field(
        default=None, description="Risk-management system reference (Art. 9), for high-risk uses."
    )
    minors_impact_assessment: str | None = Field(
        default=None,
        description="Reference where the risk-management system considers the impact on persons under 18 (Art. 9(9)).",
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
    conformity_assessment: str | None = Field(
        default=None, description="Reference of the conformity assessment (Art. 43; Annex VI internal control)."
    )
    eu_declaration_of_conformity: str | None = Field(
        default=None, description="Reference of the EU declaration of conformity (Art. 47)."
    )
    ce_marking: bool = Field(default=False, description="The CE marking is affixed (Art. 48).")
    eu_database_registration: str | None = Field(
        default=None, description="Registration number in the EU database for high-risk systems (Art. 49, Art. 71)."
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
