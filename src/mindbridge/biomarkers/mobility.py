"""Mobility from GPS fixes: home, places, entropy, radius of gyration, distance, circadian movement.

| feature | unit | definition |
|---|---|---|
| `home_time` | h | Covered time spent in stops at the home place during the local day. |
| `home_stay_fraction` | 1 | Home time divided by the day's covered time. |
| `stops` | {count} | Stops that began during the local day. |
| `places_visited` | {count} | Distinct places with stop time during the local day. |
| `location_entropy` | 1 | Shannon entropy (nats) of the share of the day's stop time spent at each place. |
| `location_entropy_normalized` | 1 | Location entropy divided by the logarithm of the number of places visited. |
| `radius_of_gyration` | m | Time-weighted root mean square distance of the day's fixes from their centre of mass. |
| `distance_travelled` | km | Summed great-circle distance between consecutive linked fixes, stop jitter excluded. |
| `max_distance_from_home` | km | Largest great-circle distance of a fix of the day from the home place. |
| `moving_fraction` | 1 | Fraction of the day's covered time spent on trips rather than in stops. |
| `circadian_movement` | 1 | ln of the 24 h Lomb-Scargle power of latitude plus longitude over the trailing days. |

Gaps. A fix covers the time up to the next fix when that comes within `max_gap_minutes` (default 10 min);
longer gaps cover nothing and are never filled: `coverage_mobility` is the covered fraction of the local
day (real time), and every time-based feature is over covered time only. Fixes with a reported accuracy
worse than `max_accuracy_m` (default 100 m) are set aside before anything else. Segmentation, places and
home are described in `mobility_places`; home is undefined (its features NaN) when no stop ever fell at night.
Normalised entropy is 0 when one place was visited and NaN when none was. Circadian movement (Saeb et al.
2015) is ln(E_lat + E_lon), E being the mean unnormalised Lomb-Scargle power of the mean-removed latitude or
longitude (deg^2) over periods from 23.5 h to 24.5 h, from the fixes of the `circadian_days` (default 7)
local days ending on that day; it needs at least 48 h between the window's first and last fix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..datapoints import Kind, Series
from .base import Feature, coverage_column, empty_daily
from .daygroups import day_frame
from .localdays import (
    NS_PER_H,
    NS_PER_MIN,
    day_index,
    days_spanning,
    merged,
    overlap,
    ratio,
    split_by_day,
    wall_clock_utc,
)
from .mobility_places import cluster_places, haversine, home_place, local_plane, segment
from .phone import SAEB_2015

CANZIAN_2015 = ("Canzian L, Musolesi M (2015). Trajectories of depression: unobtrusive monitoring of depressive "
                "states by means of smartphone mobility traces analysis. Proceedings of ACM UbiComp 2015, 1293-1304.")
GONZALEZ_2008 = ("Gonzalez MC, Hidalgo CA, Barabasi A-L (2008). Understanding individual human mobility patterns. "
                 "Nature 453(7196):779-782.")
CIRCADIAN_PERIODS_S = np.linspace(23.5, 24.5, 11) * 3600


class Mobility:
    """GPS mobility features per local day."""

    name = "mobility"
    kinds: tuple[Kind, ...] = (Kind.GPS_FIX,)
    features: tuple[Feature, ...] = (
        Feature("home_time", "h", "Covered time spent in stops at the home place during the local day.", SAEB_2015),
        Feature("home_stay_fraction", "1", "Time at home divided by the day's covered time.", SAEB_2015),
        Feature("stops", "{count}", "Number of stops (stationary runs of at least 5 minutes) that began that day.",
                SAEB_2015),
        Feature("places_visited", "{count}", "Number of distinct places with stop time during the local day.",
                CANZIAN_2015),
        Feature("location_entropy", "1",
                "Shannon entropy in nats of the shares of the day's stop time spent at each place.", SAEB_2015),
        Feature("location_entropy_normalized", "1",
                "Location entropy divided by the natural logarithm of the number of places visited.", SAEB_2015),
        Feature("radius_of_gyration", "m",
                "Time-weighted root mean square distance of the day's fixes from their centre of mass.",
                GONZALEZ_2008),
        Feature("distance_travelled", "km",
                "Summed great-circle distance between consecutive linked fixes, excluding moves within one stop.",
                CANZIAN_2015),
        Feature("max_distance_from_home", "km",
                "Largest great-circle distance between a fix of the day and the home place.", CANZIAN_2015),
        Feature("moving_fraction", "1", "Fraction of the day's covered time spent on trips rather than in stops.",
                SAEB_2015),
        Feature("circadian_movement", "1",
                "Natural log of the summed mean Lomb-Scargle power of latitude and longitude at periods of "
                "23.5-24.5 h over the trailing days.", SAEB_2015),
    )

    def __init__(self, max_gap_minutes: float = 10.0, max_accuracy_m: float = 100.0,
                 stationary_kmh: float = 1.0, min_stop_minutes: float = 5.0, place_radius_m: float = 100.0,
                 night_hours: tuple[float, float] = (0.0, 6.0), circadian_days: int = 7) -> None:
        for label, value in (("max_gap_minutes", max_gap_minutes), ("max_accuracy_m", max_accuracy_m),
                             ("stationary_kmh", stationary_kmh), ("place_radius_m", place_radius_m),
                             ("circadian_days", circadian_days)):
            if value <= 0:
                raise ValueError(f"{label} must be positive, got {value}")
        self.max_gap_ns = round(max_gap_minutes * NS_PER_MIN)
        self.max_accuracy_m = max_accuracy_m
        self.stationary_mps = stationary_kmh / 3.6
        self.min_stop_ns = round(min_stop_minutes * NS_PER_MIN)
        self.place_radius_m = place_radius_m
        self.night_hours = night_hours
        self.circadian_days = circadian_days

    def daily(self, series: Sequence[Series]) -> pd.DataFrame:
        """Daily mobility features from one subject's GPS fixes."""
        series = [s for s in series if s.kind is Kind.GPS_FIX and len(s)]
        utc, cols = merged(series, ("latitude", "longitude", "accuracy"))
        lat, lon, acc = (cols[c].astype(float) for c in ("latitude", "longitude", "accuracy"))
        usable = ~np.isnan(lat) & ~np.isnan(lon) & ~(acc > self.max_accuracy_m)
        utc, lat, lon = utc[usable], lat[usable], lon[usable]
        if len(utc) == 0:
            return empty_daily(self)
        tz = series[0].tz
        days, bounds = days_spanning(int(utc[0]), int(utc[-1]), tz)
        n = len(days)
        seg = segment(utc, lat, lon, self.max_gap_ns, self.stationary_mps, self.min_stop_ns)
        east, north = local_plane(lat, lon)

        # Stops -> places (clustered on their time-weighted centres) -> home.
        in_stop = seg.stop >= 0
        stop_time = np.bincount(seg.stop[in_stop], seg.covered_ns[in_stop], minlength=seg.n_stops)
        centre = [ratio(np.bincount(seg.stop[in_stop], seg.covered_ns[in_stop] * v[in_stop], minlength=seg.n_stops),
                        stop_time) for v in (east, north)]
        stop_place = cluster_places(np.nan_to_num(centre[0]), np.nan_to_num(centre[1]), 2 * self.place_radius_m)
        n_places = int(stop_place.max()) + 1 if seg.n_stops else 0
        place = np.full(len(utc), -1, np.int64)
        place[in_stop] = stop_place[seg.stop[in_stop]]

        owner, day, lo, hi = split_by_day(utc, utc + seg.covered_ns, bounds)
        dur = (hi - lo).astype(float)
        piece_place = place[owner]
        at_place = piece_place >= 0
        night = overlap(lo, hi, wall_clock_utc(days, tz, self.night_hours[0])[day],
                        wall_clock_utc(days, tz, self.night_hours[1])[day])
        home = home_place(piece_place[at_place], night[at_place], n_places)

        covered = np.bincount(day, dur, minlength=n)
        out: dict[str, np.ndarray] = {coverage_column(self.name): covered / np.diff(bounds)}
        if home >= 0:
            home_ns = np.bincount(day[piece_place == home], dur[piece_place == home], minlength=n)
            out["home_time"] = np.where(covered > 0, home_ns / NS_PER_H, np.nan)
            out["home_stay_fraction"] = ratio(home_ns, covered)
            home_lat = np.average(lat[place == home], weights=seg.covered_ns[place == home] + 1)
            home_lon = np.average(lon[place == home], weights=seg.covered_ns[place == home] + 1)
            far = np.full(n, -np.inf)
            np.maximum.at(far, day_index(utc, bounds), haversine(lat, lon, home_lat, home_lon) / 1000)
            out["max_distance_from_home"] = np.where(np.isinf(far), np.nan, far)
        else:
            for name in ("home_time", "home_stay_fraction", "max_distance_from_home"):
                out[name] = np.full(n, np.nan)
        first_of_stop = in_stop & ~(np.r_[False, in_stop[:-1]] & (np.r_[-2, seg.stop[:-1]] == seg.stop))
        out["stops"] = np.bincount(day_index(utc[first_of_stop], bounds), minlength=n)
        out.update(self._places(day[at_place], piece_place[at_place], dur[at_place], n, max(n_places, 1)))
        out["moving_fraction"] = np.where(covered > 0, ratio(np.bincount(day[~at_place], dur[~at_place], minlength=n),
                                                             covered), np.nan)
        out["radius_of_gyration"] = self._gyration(day, dur, east[owner], north[owner], n)
        step = haversine(lat[:-1], lon[:-1], lat[1:], lon[1:])
        counted = seg.linked[1:] & ~((seg.stop[1:] == seg.stop[:-1]) & (seg.stop[1:] >= 0))
        out["distance_travelled"] = np.bincount(day_index(utc[1:][counted], bounds), step[counted], minlength=n) / 1000
        out["circadian_movement"] = self._circadian(utc, lat, lon, bounds)
        return day_frame(self, days, out)

    @staticmethod
    def _places(day: np.ndarray, place: np.ndarray, dur: np.ndarray, n: int, n_places: int) -> dict[str, np.ndarray]:
        """Per day: places visited, location entropy and its normalised form, from stop-time pieces."""
        key = day * n_places + place
        time = np.bincount(key, dur, minlength=n * n_places).astype(float).reshape(n, n_places)
        total = time.sum(axis=1, keepdims=True)
        share = np.divide(time, total, out=np.zeros_like(time), where=total > 0)
        entropy = -np.sum(share * np.log(np.where(share > 0, share, 1.0)), axis=1)
        visited = (time > 0).sum(axis=1).astype(float)
        entropy = np.where(visited > 0, entropy, np.nan)
        normalized = np.where(visited > 1, ratio(entropy, np.log(np.maximum(visited, 1))), np.where(visited == 1, 0.0,
                                                                                                     np.nan))
        return {"places_visited": visited, "location_entropy": entropy, "location_entropy_normalized": normalized}

    @staticmethod
    def _gyration(day: np.ndarray, w: np.ndarray, x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
        """Per day, the time-weighted radius of gyration of positions on the local plane."""
        total = np.bincount(day, w, minlength=n)
        cx, cy = ratio(np.bincount(day, w * x, minlength=n), total), ratio(np.bincount(day, w * y, minlength=n), total)
        spread = np.bincount(day, w * ((x - cx[day]) ** 2 + (y - cy[day]) ** 2), minlength=n)
        return np.sqrt(ratio(spread, total))

    def _circadian(self, utc: np.ndarray, lat: np.ndarray, lon: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """Per day, Saeb's circadian movement over the trailing window of local days."""
        n = len(bounds) - 1
        first = np.searchsorted(utc, bounds[np.maximum(np.arange(n) - self.circadian_days + 1, 0)])
        last = np.searchsorted(utc, bounds[1:])
        t = (utc - utc[0]) / 1e9
        energy = sum(windowed_lomb_scargle(t, v, first, last, CIRCADIAN_PERIODS_S).mean(axis=1) for v in (lat, lon))
        enough = (last - first >= 3) & (t[np.maximum(last - 1, 0)] - t[np.minimum(first, len(t) - 1)] >= 2 * 86400)
        return np.where(enough & (energy > 0), np.log(np.where(energy > 0, energy, 1.0)), np.nan)


def windowed_lomb_scargle(t: np.ndarray, y: np.ndarray, first: np.ndarray, last: np.ndarray,
                          periods: np.ndarray) -> np.ndarray:
    """Unnormalised Lomb-Scargle power of mean-removed y[first:last] per window (rows) and period (columns).

    Lomb (1976) and Scargle (1982) with the time offset tau; every window's sums come from cumulative sums
    over the whole trace, so all windows cost one pass.
    """
    w = 2 * np.pi / periods
    phase = t[:, None] * w[None, :]
    cos, sin = np.cos(phase), np.sin(phase)
    cos2, sin2 = cos * cos - sin * sin, 2 * sin * cos

    def window_sum(v: np.ndarray) -> np.ndarray:
        c = np.concatenate([np.zeros((1, *v.shape[1:])), np.cumsum(v, axis=0)])
        return c[last] - c[first]

    count = (last - first).astype(float)[:, None]
    mean = ratio(window_sum(y), count[:, 0])[:, None]
    c, s, c2, s2 = window_sum(cos), window_sum(sin), window_sum(cos2), window_sum(sin2)
    yc, ys = window_sum(y[:, None] * cos) - mean * c, window_sum(y[:, None] * sin) - mean * s
    two_phi = np.arctan2(s2, c2)
    cphi, sphi = np.cos(two_phi / 2), np.sin(two_phi / 2)
    cc = (count + c2 * np.cos(two_phi) + s2 * np.sin(two_phi)) / 2
    ss = count - cc
    num_c, num_s = yc * cphi + ys * sphi, ys * cphi - yc * sphi
    with np.errstate(divide="ignore", invalid="ignore"):
        power = 0.5 * (np.where(cc > 1e-12, num_c**2 / cc, 0.0) + np.where(ss > 1e-12, num_s**2 / ss, 0.0))
    return np.where(count > 0, power, np.nan)
