"""Sleep: scorer known answers, Webster rules, device-scale invariance, nights, SRI, and the CLI end to end."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from actigraphy_synthetic import counts_series, day_pattern
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mindbridge.biomarkers.epochs import EpochGrid, epoch_grid
from mindbridge.biomarkers.sleep import SleepFamily, sleep_columns, sleep_regularity
from mindbridge.biomarkers.sleep_scoring import REFERENCE_P95, count_scale, sadeh, score, webster
from mindbridge.cli import app
from mindbridge.sources.base import ReadContext
from mindbridge.sources.depresjon import DepresjonActigraphy


def spike(value: float, at: int = 20, n: int = 41) -> np.ndarray:
    x = np.zeros(n)
    x[at] = value
    return x


def test_cole_kripke_threshold_on_an_isolated_count() -> None:
    # D at the spike = 0.001 * 230 * v / 30: sleep below v = 30 / 0.23 = 130.43 counts.
    assert score(spike(130), 60, scale=1.0, rescore=False).sleep[20] == 1
    assert score(spike(131), 60, scale=1.0, rescore=False).sleep[20] == 0
    # Four epochs later the spike carries weight 106: wake from v = 30 / 0.106 = 283.02.
    assert score(spike(283), 60, scale=1.0, rescore=False).sleep[24] == 1
    assert score(spike(284), 60, scale=1.0, rescore=False).sleep[24] == 0
    # Two epochs earlier it carries weight 67, and three epochs earlier nothing.
    out = score(spike(10_000), 60, scale=1.0, rescore=False)
    assert out.sleep[17] == 1 and out.sleep[18] == 0
    assert out.probability[17] == 1.0 and out.probability[20] == pytest.approx(1 / (1 + 0.23 * 10_000 / 30))


def test_sadeh_at_rest_and_its_probability() -> None:
    ps = sadeh(np.zeros(30))
    assert ps[15] == pytest.approx(7.601)
    out = score(np.zeros(30), 60, "sadeh", scale=1.0, rescore=False)
    assert out.probability[15] == pytest.approx(1 / (1 + np.exp(-7.601)))
    assert (out.sleep == 1).all()
    busy = score(np.full(30, 75.0), 60, "sadeh", scale=1.0, rescore=False)  # NAT = 11, mean 75
    expected = 7.601 - 0.065 * 75 - 1.08 * 11 - 0.703 * np.log(76)
    assert sadeh(np.full(30, 75.0))[15] == pytest.approx(expected)
    assert busy.sleep[15] == 0


def test_webster_rules() -> None:
    w, s = [0], [1]

    def labels(seq: list[int]) -> np.ndarray:
        return np.array(seq, dtype=np.int8)

    seq = labels(w * 4 + s * 8 + w * 20)
    # (a) after 4 min wake the first minute of sleep is wake; the remaining 7 min survive (d needs <= 6).
    np.testing.assert_array_equal(webster(seq), labels(w * 5 + s * 7 + w * 20))
    np.testing.assert_array_equal(webster(labels(w * 10 + s * 20)), labels(w * 13 + s * 17))  # (b)
    np.testing.assert_array_equal(webster(labels(w * 15 + s * 20)), labels(w * 19 + s * 16))  # (c)
    out = webster(labels(s * 30 + w * 3 + s * 6 + w * 10 + s * 30))
    assert out[33:39].sum() == 6  # 3 min of wake do not trigger (a-c); (d) 6 min between 3 and 10 of wake: kept
    out = webster(labels(s * 30 + w * 20 + s * 14 + w * 20 + s * 30))
    assert out[50:64].sum() == 0 and out[84:].sum() == 26  # (c) cuts 4 -> 10 min left between 20-min wakes: (e)
    with_gap = labels(w * 20 + [-1] + s * 5)
    assert (webster(with_gap)[21:] == 1).all() and webster(with_gap)[20] == -1  # missing breaks the wake bout
    two_minute = webster(labels(w * 8 + s * 3), epoch_minutes=2)  # 16 min of wake: (c) cuts 4 min = 2 epochs
    np.testing.assert_array_equal(two_minute, labels(w * 10 + s * 1))
    assert len(webster(labels([]))) == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([-1, 0, 1]), max_size=400), st.sampled_from([0.5, 1.0, 2.0]))
def test_webster_only_turns_sleep_into_wake(seq: list[int], epoch_minutes: float) -> None:
    before = np.array(seq, dtype=np.int8)
    after = webster(before, epoch_minutes)
    assert after.dtype == np.int8 and len(after) == len(before)
    np.testing.assert_array_equal(after == -1, before == -1)
    assert not np.any((before == 0) & (after == 1))


@settings(max_examples=25, deadline=None)
@given(k=st.integers(-6, 10), seed=st.integers(0, 2**16), method=st.sampled_from(["cole-kripke", "sadeh"]))
def test_labels_do_not_depend_on_the_device_count_scale(k: int, seed: int, method: str) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.gamma(0.3, 300.0, 600) * (rng.random(600) < 0.7)
    base = score(counts, 60, method)  # type: ignore[arg-type]
    scaled = score(counts * 2.0**k, 60, method)  # type: ignore[arg-type]
    np.testing.assert_array_equal(base.sleep, scaled.sleep)
    np.testing.assert_allclose(base.probability, scaled.probability, rtol=1e-9)
    assert count_scale(counts * 2.0**k) == pytest.approx(count_scale(counts) / 2.0**k)


def test_thirty_second_epochs_are_scored_by_the_minute() -> None:
    rng = np.random.default_rng(7)
    minute = rng.gamma(0.3, 300.0, 300)
    half = np.repeat(minute / 2, 2)
    np.testing.assert_array_equal(score(half, 30, scale=1.0).sleep, np.repeat(score(minute, 60, scale=1.0).sleep, 2))
    with pytest.raises(ValueError, match="must divide"):
        score(half, 45)


def test_missing_epochs_are_not_scored() -> None:
    x = np.r_[np.zeros(10), np.nan, np.zeros(10)]
    out = score(x, 60, scale=1.0)
    assert np.isnan(out.sleep[10]) and np.isnan(out.probability[10])
    assert (out.sleep[:10] == 1).all()


def night_counts(days: int) -> np.ndarray:
    """Asleep from 23:00 to 07:00 (a 20-count twitch at minute 9 of every 10, else still), awake (300) by day.

    A worn wrist asleep is never perfectly constant: a night of one steady count would be the floor of a
    device lying on a table, which the non-wear rule catches.
    """
    twitches = np.where(np.arange(days * 1440) % 10 == 9, 20.0, 0.0)
    return day_pattern(days, 60, {(0, 7): 0.0, (23, 24): 0.0}, rest=300.0) + twitches * (
        day_pattern(days, 60, {(0, 7): 1.0, (23, 24): 1.0}, rest=0.0))


def test_main_sleep_period_of_built_nights() -> None:
    table = SleepFamily().daily([counts_series(night_counts(4), source="Actiwatch AW4")])
    night = table.loc["2024-03-05"]
    # Cole-Kripke sleeps from 23:04 (four wake minutes in its window) to 06:58 (two ahead);
    # Webster (c) wakes the first 4 minutes after 15+ min of wake: sleep 23:08 to 06:59.
    assert night["sleep_onset"] == pytest.approx(-1 + 8 / 60)
    assert night["sleep_offset"] == pytest.approx(7 - 1 / 60)
    assert night["sleep_total"] == 60 * 8 - 8 - 1
    assert night["sleep_waso"] == 0 and night["sleep_awakenings"] == 0 and night["sleep_efficiency"] == 1
    assert night["sleep_midpoint"] == pytest.approx((night["sleep_onset"] + night["sleep_offset"]) / 2)
    assert table["sleep_regularity_index"].dropna().iloc[-1] == pytest.approx(100)


def test_a_night_waking_joins_the_period_and_counts_as_waso() -> None:
    counts = night_counts(3)
    counts[1440 + 180:1440 + 210] = 300.0  # awake 03:00-03:30 on the second night
    night = SleepFamily().daily([counts_series(counts, source="Actiwatch AW4")]).loc["2024-03-05"]
    assert night["sleep_awakenings"] == 1
    assert night["sleep_onset"] == pytest.approx(-1 + 8 / 60)
    assert night["sleep_waso"] == 1 + 30 + 4 + 4  # look-ahead, the waking, look-back, Webster (c)
    assert night["sleep_total"] + night["sleep_waso"] == pytest.approx(60 * 8 - 9)


def test_missing_data_ends_a_sleep_period() -> None:
    counts = night_counts(3)
    counts[1440 + 120:1440 + 150] = np.nan  # no samples 02:00-02:30: the night splits, the longer part is main
    night = SleepFamily().daily([counts_series(counts, source="Actiwatch AW4")]).loc["2024-03-05"]
    assert night["sleep_onset"] == pytest.approx(2.5) and night["sleep_offset"] == pytest.approx(7 - 1 / 60)
    assert night["sleep_total"] == 269 and night["sleep_waso"] == 0  # 02:30 to 06:59, no gap inside
    assert night["coverage_sleep"] == pytest.approx(1 - 30 / 1440)


def test_nonwear_is_not_sleep() -> None:
    counts = night_counts(3)
    counts[1440:1440 + 420] = 0  # the device lies still all night: non-wear, not sleep
    table = SleepFamily().daily([counts_series(counts, source="Actiwatch AW4")])
    night = table.loc["2024-03-05"]
    assert night["coverage_sleep"] == pytest.approx(1 - 420 / 1440)
    # the small hours were not recorded: no main period is claimed (it was 52 min, 23:08-24:00, before)
    assert np.isnan(night["sleep_total"]) and np.isnan(night["sleep_offset"]) and np.isnan(night["sleep_midpoint"])


def test_a_night_needs_its_core_hours_recorded() -> None:
    counts = night_counts(3)
    counts[1440 + 5 * 60:1440 + 6 * 60] = np.nan  # one of the six core hours missing: 83 % < 90 %
    night = SleepFamily().daily([counts_series(counts, source="Actiwatch AW4")]).loc["2024-03-05"]
    assert np.isnan(night["sleep_midpoint"])
    counts = night_counts(3)
    counts[1440 + 5 * 60 + 30:1440 + 6 * 60] = np.nan  # half an hour missing: 92 % of the core is enough
    night = SleepFamily().daily([counts_series(counts, source="Actiwatch AW4")]).loc["2024-03-05"]
    assert np.isfinite(night["sleep_midpoint"])


def test_sleep_regularity_index_known_values() -> None:
    day = np.r_[np.ones(8), np.zeros(16)]
    same = np.tile(day, (8, 1))
    assert sleep_regularity(same)[-1] == 100
    flipped = np.array([day if i % 2 else 1 - day for i in range(8)])
    assert sleep_regularity(flipped)[-1] == -100
    half = np.array([day, np.r_[np.ones(8), np.ones(4), np.zeros(12)]] * 4)  # 4 of 24 epochs differ
    assert sleep_regularity(half)[-1] == pytest.approx(-100 + 200 * 20 / 24)
    assert np.isnan(sleep_regularity(same)[0])


@settings(max_examples=15, deadline=None)
@given(shift=st.integers(-10, 10), seed=st.integers(0, 2**16))
def test_sleep_is_invariant_to_whole_day_shifts(shift: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts = night_counts(4) * rng.uniform(0.5, 2.0, 4 * 1440)
    base = SleepFamily().daily([counts_series(counts)])
    start = str(np.datetime64("2024-03-04T00:00") + np.timedelta64(shift, "D"))
    moved = SleepFamily().daily([counts_series(counts, start=start)])
    assert (moved.index - base.index == pd.Timedelta(days=shift)).all()
    pd.testing.assert_frame_equal(moved.reset_index(drop=True), base.reset_index(drop=True))


@given(st.lists(st.floats(0, 2000), min_size=1, max_size=200))
@settings(max_examples=30, deadline=None)
def test_short_recordings_do_not_crash(values: list[float]) -> None:
    table = SleepFamily("sadeh").daily([counts_series(np.asarray(values), start="2024-03-04T22:00")])
    assert ((table["coverage_sleep"] > 0) & (table["coverage_sleep"] <= 1)).all()


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["biomarkers", "sleep-wake", *args])
    return result.exit_code, result.stdout, " ".join(result.stderr.split())  # rich wraps to the terminal width


def test_cli_scores_every_epoch_of_any_device(tmp_path: Path) -> None:
    counts = np.repeat(night_counts(2) / 2, 2)  # 30 s epochs
    times = pd.date_range("2024-03-04", periods=len(counts), freq="30s")
    outputs = []
    for device_scale in (1, 40):  # a second device counting 40 times higher
        path = tmp_path / f"epochs_{device_scale}.csv"
        pd.DataFrame({"timestamp": times, "activity": counts * device_scale}).to_csv(path, index=False)
        code, out, _ = run_cli(str(path), "--epoch-seconds", "30")
        assert code == 0
        outputs.append(out)
    assert outputs[0] == outputs[1]
    table = pd.read_csv(io.StringIO(outputs[0]), parse_dates=["timestamp"])
    assert list(table.columns) == ["timestamp", "sleep_probability", "label"]
    assert len(table) == len(counts) and (table["timestamp"].to_numpy() == times.to_numpy()).all()
    assert table["sleep_probability"].between(0, 1).all()
    hour = table["timestamp"].dt.hour
    assert (table.loc[hour.between(1, 5), "label"] == "sleep").all()
    assert (table.loc[hour.between(10, 20), "label"] == "wake").all()
    code, out_sadeh, _ = run_cli(str(path), "--epoch-seconds", "30", "--method", "sadeh")
    assert code == 0 and out_sadeh != outputs[1]


def test_cli_leaves_out_an_epoch_it_cannot_score_and_says_so(tmp_path: Path) -> None:
    counts = np.repeat(night_counts(1) / 2, 2)[:-1]  # 30 s epochs ending half-way through a minute
    times = pd.date_range("2024-03-04", periods=len(counts), freq="30s")
    path = tmp_path / "odd.csv"
    pd.DataFrame({"timestamp": times, "activity": counts}).to_csv(path, index=False)
    code, out, err = run_cli(str(path), "--epoch-seconds", "30")
    table = pd.read_csv(io.StringIO(out), parse_dates=["timestamp"])
    assert code == 0 and len(table) == len(counts) - 1, "the lone last half-minute is left out, not labelled wake"
    assert table["sleep_probability"].notna().all() and set(table["label"]) <= {"sleep", "wake"}
    assert "1 epoch(s) left out" in err and str(times[-1]) in err


def test_cli_refuses_bad_input_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,activity\n2024-01-01 00:00:00,5\n2024-01-01 00:01:00,lots\n"
                    "2024-01-01 00:02:30,3\n2024-01-01 00:03:00,-1\n")
    code, out, err = run_cli(str(path), "--epoch-seconds", "60")
    assert code == 1 and out == ""
    assert "line 3" in err and "'lots'" in err
    assert "line 4: timestamp is not on the 60 s epoch grid" in err
    assert "line 5: negative activity count" in err
    code, _, err = run_cli(str(path), "--epoch-seconds", "60", "--method", "guess")
    assert code == 2 and "cole-kripke" in err


@pytest.mark.slow
def test_cli_on_a_depresjon_file_matches_the_library(depresjon_dir: Path, tmp_path: Path) -> None:
    raw = pd.read_csv(depresjon_dir / "condition" / "condition_3.csv")
    path = tmp_path / "condition_3.csv"
    raw[["timestamp", "activity"]].to_csv(path, index=False)
    code, out, _ = run_cli(str(path), "--epoch-seconds", "60")
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    assert len(table) == len(raw)
    expected = score(raw["activity"].to_numpy(float), 60).sleep  # minutes are contiguous in this file
    np.testing.assert_array_equal(table["label"] == "sleep", expected == 1)
    assert 0.2 < (table["label"] == "sleep").mean() < 0.6


@pytest.mark.slow
def test_reference_scale_constant_matches_depresjon(depresjon_dir: Path) -> None:
    p95 = [np.percentile(x[x > 0], 95) for x in
           (pd.read_csv(f)["activity"].to_numpy(float) for f in sorted(depresjon_dir.glob("*/*.csv")))]
    assert len(p95) == 55
    assert np.median(p95) == pytest.approx(REFERENCE_P95, rel=0.01)


def test_depresjon_nights_in_the_study_window_are_plausible(depresjon_dir: Path) -> None:
    series = DepresjonActigraphy().read(depresjon_dir / "control" / "control_5.csv", ReadContext()).series[0]
    days = int(pd.read_csv(depresjon_dir / "scores.csv").set_index("number").loc["control_5", "days"])
    table = SleepFamily().daily([series]).iloc[: days + 1]  # after its study window the watch lies still
    full = table[table["coverage_sleep"] == 1]
    assert len(full) >= 10
    assert 300 < full["sleep_total"].median() < 540
    assert -3 < full["sleep_onset"].median() < 1 and 5 < full["sleep_offset"].median() < 9
    assert full["sleep_efficiency"].between(0.5, 1).all()
    assert (full["sleep_offset"] > full["sleep_onset"]).all()  # every main period ends after it begins


@pytest.mark.parametrize("stem", ["condition/condition_1", "control/control_5"])
def test_skipped_nights_give_the_same_columns_as_the_whole_grid(depresjon_dir: Path, stem: str) -> None:
    series = DepresjonActigraphy().read(depresjon_dir / f"{stem}.csv", ReadContext()).series[0]
    whole_recording = epoch_grid(series)
    # nine days inside the study window: the edge's case, a short window of which it asks the last nights
    grid = EpochGrid(whole_recording.first_day + np.timedelta64(2, "D"), 60, whole_recording.counts[2:11],
                     whole_recording.worn[2:11])
    for scale in (1.0, None):
        whole_days, whole = sleep_columns(grid, scale=scale)
        assert np.isfinite(whole["sleep_total"]).sum() >= 7  # real nights, not an empty comparison
        for skip in range(grid.n_days + 1):
            days, part = sleep_columns(grid, scale=scale, skip=skip)
            kept = whole_days >= grid.first_day + np.timedelta64(skip, "D")
            assert list(part) == list(whole) and np.array_equal(days, whole_days[kept])
            for name, column in part.items():
                assert np.array_equal(column, whole[name][kept], equal_nan=True), (skip, name)
    with pytest.raises(ValueError, match="skip must be"):
        sleep_columns(grid, skip=grid.n_days + 1)
