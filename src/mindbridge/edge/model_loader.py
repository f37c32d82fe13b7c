"""Load the exported risk model only when it verifies: an Ed25519 signature over its SHA-256 manifest by a
trusted model-team key, or (until the exporter signs) the SHA-256 pinned in its model card.

A model folder holds `model.json` (the numpy-only artifact of `models.export`, format
`mindbridge-linear-risk/2`), `card.json` (the `models.card.ModelCard`) and, once signed,
`signature.json`: `{"format", "signer" (did:key), "manifest" {file: sha256}, "signature"}` where the
signature covers a domain tag and the RFC 8785 canonical JSON of `{"signer", "manifest"}`. When a
signature file is present it must verify under one of the trusted signers and every listed file must
match; there is no fallback. Predictions use numpy only (`models.export` imports scikit-learn, which
the edge's memory budget cannot hold): impute NaN with the training median, standardise, logistic link,
after `log1p` on the count-scale features and clock features unwrapped around their centres
(`models.linear.scale_inputs`, shared with the model team); a model's trailing-context inputs come from the
state's feature history (`models.context.ContextPlan`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from cryptography.exceptions import InvalidSignature
from pydantic import ValidationError

from ..biomarkers.base import coverage_column
from ..models.card import ModelCard
from ..models.conformal import ConformalSets
from ..models.context import ContextPlan, complete_days
from ..models.linear import PARAMS_FILE, LinearRisk, scale_inputs, sha256
from ..privacy.canonical import canonical
from ..privacy.did import ed25519_of_did_key
from ..privacy.errors import PrivacyError
from ..privacy.keys import Identity, b64, unb64

MODEL_FILE, CARD_FILE, SIGNATURE_FILE = PARAMS_FILE, "card.json", "signature.json"
SIGNATURE_FORMAT = "mindbridge-model-signature/1"
DOMAIN = SIGNATURE_FORMAT.encode("ascii") + b"\0"
REQUIRED = (MODEL_FILE, CARD_FILE)
Verification = Literal["signature", "pinned-sha256"]


class ModelRefused(ValueError):
    """The model folder does not verify or is not a usable artifact."""


@dataclass(frozen=True)
class EdgeModel:
    """A verified linear risk model with its card facts."""

    model_id: str
    version: str
    sha256: str
    linear: LinearRisk
    threshold: float
    verified_by: Verification
    signer: str | None = None
    conformal: ConformalSets | None = None  # the card's split-conformal threshold, when it carries one

    @property
    def features(self) -> tuple[str, ...]:
        """The model's input features, in order."""
        return self.linear.features

    @cached_property
    def plan(self) -> ContextPlan:
        """Which daily features and trailing windows the model's inputs come from."""
        return ContextPlan.of(self.features)

    def inputs(self, history: Mapping[str, np.ndarray], days: Sequence[dt.date]) -> np.ndarray:
        """The model's input row for the newest of `days` from the daily feature columns of `days`: a day's own
        features and their means and sds over trailing windows of it and the complete days before it
        (`models.context`), scaled first as in training (`scale_inputs`); NaN stays NaN."""
        plan = self.plan
        start = plan.first_needed(days)
        x = scale_inputs(np.array([history[name][start:] for name in plan.bases], dtype=float).T, plan.bases)
        complete = complete_days(history[coverage_column("activity")][start:], history["activity_nonwear"][start:])
        return plan.row(x, days[start:], complete)

    def probability(self, history: Mapping[str, np.ndarray], days: Sequence[dt.date]) -> float:
        """Calibrated probability that the newest of `days` belongs to a depressive episode."""
        return float(self.linear.predict_proba(self.inputs(history, days)[None, :])[0])


def _signed_bytes(signer: str, manifest: Mapping[str, str]) -> bytes:
    return DOMAIN + canonical({"signer": signer, "manifest": dict(manifest)})


def sign_model(folder: Path, signer: Identity, files: Sequence[str] = REQUIRED) -> Path:
    """Write `signature.json`: the model team's Ed25519 signature over the SHA-256 manifest of `files`."""
    if signer.role != "model-team":
        raise ModelRefused(f"models are signed by a model-team identity, not a {signer.role} one ({signer.did})")
    missing = [f for f in REQUIRED if f not in files]
    if missing:
        raise ModelRefused(f"a model signature must cover {', '.join(missing)}")
    manifest = {name: sha256(folder / name) for name in sorted(files)}
    signature = signer.signing.sign(_signed_bytes(signer.did, manifest))
    path = folder / SIGNATURE_FILE
    path.write_text(json.dumps({"format": SIGNATURE_FORMAT, "signer": signer.did, "manifest": manifest,
                                "signature": b64(signature)}, indent=1) + "\n", encoding="utf-8")
    return path


def _check_signature(folder: Path, trusted: Sequence[str]) -> str:
    """Verify `signature.json` and the files it lists; return the signer's DID."""
    path = folder / SIGNATURE_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        signer, manifest = doc["signer"], doc["manifest"]
        if doc.get("format") != SIGNATURE_FORMAT or not isinstance(manifest, dict):
            raise ModelRefused(f"{path}: not a {SIGNATURE_FORMAT} file")
        signature = unb64(doc["signature"], f"{path}: signature")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, PrivacyError) as exc:
        raise ModelRefused(f"{path}: damaged signature file ({exc})") from exc
    if signer not in trusted:
        raise ModelRefused(f"{path}: signed by {signer}, which is not a trusted model signer")
    try:
        ed25519_of_did_key(signer).verify(signature, _signed_bytes(signer, manifest))
    except (InvalidSignature, PrivacyError) as exc:
        raise ModelRefused(f"{path}: the signature does not verify under {signer}") from exc
    unlisted = [f for f in REQUIRED if f not in manifest]
    if unlisted:
        raise ModelRefused(f"{path}: the signed manifest does not cover {', '.join(unlisted)}")
    for name, digest in manifest.items():
        if not (folder / name).is_file() or sha256(folder / name) != digest:
            raise ModelRefused(f"{folder / name}: SHA-256 does not match the signed manifest (altered or missing)")
    return str(signer)


def load_model(folder: Path, trusted: Sequence[str] = (), require_signature: bool = False) -> EdgeModel:
    """The verified model in `folder`; ModelRefused names the file and the reason when it does not verify."""
    for name in REQUIRED:
        if not (folder / name).is_file():
            raise ModelRefused(f"{folder / name}: missing from the model folder")
    signer: str | None = None
    if (folder / SIGNATURE_FILE).exists():
        signer = _check_signature(folder, trusted)
    elif require_signature:
        raise ModelRefused(f"{folder}: no {SIGNATURE_FILE}, and this device requires a signed model")
    try:
        card = ModelCard.read(folder)
    except (ValidationError, ValueError) as exc:
        raise ModelRefused(f"{folder / CARD_FILE}: not a valid model card ({exc})") from exc
    digest = sha256(folder / MODEL_FILE)
    if signer is None and card.artifacts.get(MODEL_FILE) != digest:
        raise ModelRefused(f"{folder / MODEL_FILE}: SHA-256 {digest[:16]}… differs from the one pinned in the "
                           "model card (altered artifact or card)")
    return _parse_artifact(folder / MODEL_FILE, card, digest, "signature" if signer else "pinned-sha256", signer)


def _parse_artifact(path: Path, card: ModelCard, digest: str, how: Verification, signer: str | None) -> EdgeModel:
    try:
        linear = LinearRisk.load(path)
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, ValueError) as exc:
        raise ModelRefused(f"{path}: not a usable model artifact ({exc})") from exc
    features = linear.features
    if list(features) != list(card.features):
        raise ModelRefused(f"{path}: features differ from the model card's")
    conformal = None
    if {"alpha", "threshold"} <= set(card.conformal):
        conformal = ConformalSets(threshold=card.conformal["threshold"], alpha=card.conformal["alpha"])
    return EdgeModel(card.model_id, card.version, digest, linear, threshold=card.decision_threshold,
                     verified_by=how, signer=signer, conformal=conformal)
