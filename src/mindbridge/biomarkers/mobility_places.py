"""GPS trace geometry: distances, stop/trip segmentation, significant places and home (no network, no geocoding).

Segmentation follows Saeb et al. (2015): a fix is stationary when its speed, estimated by a central
difference over its neighbouring fixes, is below 1 km/h. A stop is a run of consecutive stationary fixes
with no gap longer than the gap limit that covers at least 5 minutes; every other fix belongs to a trip.
Places are clusters of stop centres by complete linkage on a local plane, cut at twice the place radius,
so no two stops of one place lie more than 200 m apart by default. Home is the place with the most stop time
between 00:00 and 06:00 local time over the whole recording.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

EARTH_RADIUS_M = 6_371_008.8


def haversine(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres between WGS 84 positions given in degrees (spherical Earth)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def local_plane(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """East and north offsets in metres from the median position (equirectangular; exact enough within a city)."""
    if len(lat) == 0:
        return np.empty(0), np.empty(0)
    lat0, lon0 = np.median(lat), np.median(lon)
    east = np.radians(((lon - lon0 + 180) % 360) - 180) * EARTH_RADIUS_M * np.cos(np.radians(lat0))
    north = np.radians(lat - lat0) * EARTH_RADIUS_M
    return east, north


@dataclass(frozen=True)
class Segmentation:
    """Per fix: whether it continues the previous fix, its covered time, and its stop (-1 on a trip)."""

    linked: np.ndarray
    covered_ns: np.ndarray
    stop: np.ndarray
    n_stops: int


def segment(utc: np.ndarray, lat: np.ndarray, lon: np.ndarray, max_gap_ns: int, stationary_mps: float,
            min_stop_ns: int) -> Segmentation:
    """Split a time-sorted trace into stops and trips; a fix covers the time to the next fix unless that is a gap."""
    n = len(utc)
    linked = np.zeros(n, bool)
    linked[1:] = np.diff(utc) <= max_gap_ns
    covered = np.zeros(n, np.int64)
    covered[:-1] = np.where(linked[1:], np.diff(utc), 0)
    prev = np.where(linked, np.arange(n) - 1, np.arange(n))
    nxt = np.r_[np.where(linked[1:], np.arange(1, n), np.arange(n - 1)), n - 1] if n else np.zeros(0, np.int64)
    span_s = (utc[nxt] - utc[prev]) / 1e9
    moved = haversine(lat[prev], lon[prev], lat[nxt], lon[nxt])
    speed = np.divide(moved, span_s, out=np.zeros(n), where=span_s > 0)
    still = speed < stationary_mps
    run_start = still & ~(np.r_[False, still[:-1]] & linked)
    run = np.cumsum(run_start) - 1
    run_time = np.bincount(run[still], covered[still], minlength=int(run_start.sum()))
    is_stop = run_time >= min_stop_ns
    stop_number = np.cumsum(is_stop) - 1
    stop = np.full(n, -1, np.int64)
    member = still.copy()
    member[still] = is_stop[run[still]]
    stop[member] = stop_number[run[member]]
    return Segmentation(linked, covered, stop, int(is_stop.sum()))


def cluster_places(east: np.ndarray, north: np.ndarray, diameter_m: float, cell_m: float = 10.0) -> np.ndarray:
    """Place label (0..k-1) of each point: complete-linkage clusters cut at `diameter_m`, after snapping to a grid."""
    if len(east) == 0:
        return np.zeros(0, np.int64)
    cells = np.stack([np.round(east / cell_m), np.round(north / cell_m)], axis=1)
    unique, inverse = np.unique(cells, axis=0, return_inverse=True)
    if len(unique) == 1:
        return np.zeros(len(east), np.int64)
    labels = fcluster(linkage(unique * cell_m, method="complete"), t=diameter_m, criterion="distance")
    return (labels - 1)[inverse.reshape(-1)].astype(np.int64)


def home_place(place_of_piece: np.ndarray, night_ns: np.ndarray, n_places: int) -> int:
    """The place holding the most night-time stop time, or -1 when no stop fell at night."""
    if n_places == 0:
        return -1
    night = np.bincount(place_of_piece, night_ns, minlength=n_places)
    return int(np.argmax(night)) if night.max() > 0 else -1
