"""`python -m mindbridge.hub …`: the hub commands alone, without loading the device-side pipeline."""

from .commands import hub_app

hub_app(prog_name="mindbridge hub")
