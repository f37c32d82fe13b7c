"""Model cards (Mitchell et al. 2019, "Model Cards for Model Reporting") as JSON and markdown."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class MetricValue(BaseModel):
    """One metric with its 95% bootstrap interval over subjects."""

    value: float
    lower: float
    upper: float


class ModelCard(BaseModel):
    """What a model is, what it was trained and evaluated on, how well it did, and where it must not be used."""

    model_config = ConfigDict(extra="forbid")

    model_id: str
    version: str
    created: str
    description: str
    intended_use: str
    limits: list[str]
    data: str
    days_used: str
    protocol: str
    features: list[str]
    metrics: dict[str, dict[str, MetricValue]]
    calibration: str
    conformal: dict[str, float]
    decision_threshold: float
    artifacts: dict[str, str]
    citation: str

    def markdown(self) -> str:
        """The card as a human-readable markdown page."""
        lines = [f"# Model card: {self.model_id} {self.version}", "", self.description, "",
                 f"Created {self.created}.", "", "## Intended use", "", self.intended_use, "", "## Limits", ""]
        lines += [f"- {limit}" for limit in self.limits]
        lines += ["", "## Data", "", self.data, "", f"Days used: {self.days_used}", "", "## Evaluation protocol",
                  "", self.protocol, "", "## Metrics (95% bootstrap interval over subjects)", "",
                  "| level | metric | value | interval |", "|---|---|---|---|"]
        for lvl, metrics in self.metrics.items():
            lines += [f"| {lvl} | {name} | {m.value:.3f} | {m.lower:.3f}–{m.upper:.3f} |"
                      for name, m in metrics.items()]
        lines += ["", "## Calibration and uncertainty", "", self.calibration, "",
                  ", ".join(f"{k} {v:.3f}" for k, v in self.conformal.items()), "",
                  f"Decision threshold on the probability: {self.decision_threshold:.4f}.", "",
                  "## Features (model input order)", ""]
        lines += [f"{i}. `{name}`" for i, name in enumerate(self.features)]
        lines += ["", "## Artifacts (SHA-256)", "", "| file | sha256 |", "|---|---|"]
        lines += [f"| {name} | `{digest}` |" for name, digest in self.artifacts.items()]
        lines += ["", "## Citation", "", self.citation, ""]
        return "\n".join(lines)

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write card.json and card.md into `folder`."""
        json_path, md_path = folder / "card.json", folder / "card.md"
        json_path.write_text(json.dumps(self.model_dump(), indent=1), encoding="utf-8")
        md_path.write_text(self.markdown(), encoding="utf-8")
        return json_path, md_path

    @classmethod
    def read(cls, folder: Path) -> ModelCard:
        """Load card.json from a model folder."""
        return cls.model_validate_json((folder / "card.json").read_text(encoding="utf-8"))
