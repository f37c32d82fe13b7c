"""The model loads only when it verifies: Ed25519 signature over its SHA-256 manifest, or the card's pinned SHA-256."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.world import Clinic, write_model
from mindbridge.cli import model_team_signer
from mindbridge.edge.engine import EdgeEngine
from mindbridge.edge.model_loader import SIGNATURE_FILE, ModelRefused, load_model, sign_model
from mindbridge.models.context import context_names
from mindbridge.models.features import ACTIGRAPHY_FEATURES
from mindbridge.models.linear import CLOCK_CENTRES, LOG_SCALED, PARAMS_FILE, LinearRisk, sha256
from mindbridge.privacy.keys import Identity, save


def tamper(path: Path) -> None:
    """Change one weight of a model artifact, keeping it valid JSON."""
    data = json.loads(path.read_text())
    data["weights"][0] += 0.5
    path.write_text(json.dumps(data))


def test_pinned_sha256_loads_and_a_tampered_artifact_is_refused(model_dir: Path) -> None:
    model = load_model(model_dir)
    assert model.verified_by == "pinned-sha256" and model.signer is None
    tamper(model_dir / PARAMS_FILE)
    with pytest.raises(ModelRefused, match="differs from the one pinned"):
        load_model(model_dir)


def test_signed_model_verifies_only_under_a_trusted_key(model_dir: Path) -> None:
    team, stranger = Identity.generate("model-team"), Identity.generate("model-team")
    sign_model(model_dir, team)
    model = load_model(model_dir, [team.did], require_signature=True)
    assert (model.verified_by, model.signer) == ("signature", team.did)
    with pytest.raises(ModelRefused, match="not a trusted model signer"):
        load_model(model_dir, [stranger.did])
    sign_model(model_dir, stranger)  # a valid signature, by a key the device does not trust
    with pytest.raises(ModelRefused, match="not a trusted"):
        load_model(model_dir, [team.did])


def test_forged_signature_and_altered_files_are_refused(model_dir: Path) -> None:
    team, stranger = Identity.generate("model-team"), Identity.generate("model-team")
    sign_model(model_dir, team)
    doc = json.loads((model_dir / SIGNATURE_FILE).read_text())
    forged = sign_model(model_dir, stranger)
    stranger_sig = json.loads(forged.read_text())["signature"]
    forged.write_text(json.dumps({**doc, "signature": stranger_sig}))  # wrong key, team's name
    with pytest.raises(ModelRefused, match="does not verify"):
        load_model(model_dir, [team.did])
    sign_model(model_dir, team)
    tamper(model_dir / PARAMS_FILE)
    with pytest.raises(ModelRefused, match="does not match the signed manifest"):
        load_model(model_dir, [team.did])


def test_the_train_commands_signer_uses_the_model_teams_keystore_only(model_dir: Path, tmp_path: Path) -> None:
    team, device = Identity.generate("model-team"), Identity.generate("device")
    (tmp_path / "pass").write_text("correct horse\n")
    for who, name in ((team, "team.key"), (device, "device.key")):
        save(who, tmp_path / name, "correct horse", n=2**10)
    sign = model_team_signer(tmp_path / "team.key", tmp_path / "pass")
    assert sign(model_dir) == team.did
    assert load_model(model_dir, [team.did], require_signature=True).signer == team.did
    (tmp_path / "wrong").write_text("battery staple\n")
    for key, passphrase in (("team.key", "wrong"), ("device.key", "pass"), ("absent.key", "pass"),
                            ("team.key", "absent")):
        with pytest.raises(typer.Exit) as refused:  # before any training runs
            model_team_signer(tmp_path / key, tmp_path / passphrase)
        assert refused.value.exit_code == 2
    with pytest.raises(ModelRefused, match="model-team identity, not a device"):
        sign_model(model_dir, device)


def test_unsigned_model_is_refused_where_a_signature_is_required(model_dir: Path, tmp_path: Path,
                                                                 clinic: Clinic) -> None:
    team = Identity.generate("model-team")
    with pytest.raises(ModelRefused, match="requires a signed model"):
        EdgeEngine.init(tmp_path / "state", model_dir, clinic.device, tz="UTC", source="x", signers=[team.did])
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("unknown", ["heart_rate_rmssd", "heart_rate_rmssd:mean7d", "m10:mean\u00b3d"])
def test_model_needing_unknown_features_is_refused(tmp_path: Path, model_dir: Path, clinic: Clinic,
                                                   unknown: str) -> None:
    data = json.loads((model_dir / PARAMS_FILE).read_text())
    data["features"][0] = unknown  # a plain feature, a context input of one, a malformed context name
    card = json.loads((model_dir / "card.json").read_text())
    card["features"][0] = unknown
    (model_dir / PARAMS_FILE).write_text(json.dumps(data))
    card["artifacts"][PARAMS_FILE] = sha256(model_dir / PARAMS_FILE)
    (model_dir / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelRefused, match=unknown.split(":")[0] if "rmssd" in unknown else "\u00b3"):
        EdgeEngine.init(tmp_path / "state", model_dir, clinic.device, tz="UTC", source="x")


def test_a_model_with_context_inputs_is_accepted(tmp_path: Path, clinic: Clinic) -> None:
    features = ACTIGRAPHY_FEATURES + context_names(ACTIGRAPHY_FEATURES, 7)
    folder = write_model(tmp_path / "model", weights=np.zeros(len(features)), features=features)
    EdgeEngine.init(tmp_path / "state", folder, clinic.device, tz="UTC", source="x")
    assert load_model(folder).plan.windows == (7,) and load_model(folder).plan.bases == ACTIGRAPHY_FEATURES


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), missing=st.floats(0.0, 0.6))
def test_edge_probability_equals_the_exporters_numpy_model(tmp_path_factory: pytest.TempPathFactory, seed: int,
                                                           missing: float) -> None:
    rng = np.random.default_rng(seed)
    folder = write_model(tmp_path_factory.mktemp("m"), weights=rng.normal(0, 0.5, len(ACTIGRAPHY_FEATURES)),
                         intercept=float(rng.normal()))
    x = rng.gamma(2.0, 30.0, len(ACTIGRAPHY_FEATURES))
    x[rng.random(len(x)) < missing] = np.nan
    values = dict(zip(ACTIGRAPHY_FEATURES, x, strict=True))
    logged = np.array([np.log1p(v) if name in LOG_SCALED else
                       CLOCK_CENTRES[name] + (v - CLOCK_CENTRES[name] + 12) % 24 - 12 if name in CLOCK_CENTRES else v
                       for name, v in values.items()])
    expected = LinearRisk.load(folder / PARAMS_FILE).predict_proba(logged[None, :])[0]
    one_day = {name: np.array([v]) for name, v in values.items()} | {"coverage_activity": np.array([1.0])}
    assert load_model(folder).probability(one_day, [dt.date(2024, 1, 1)]) == pytest.approx(expected, abs=1e-12)
