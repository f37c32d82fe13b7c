"""`python -m mindbridge.device`: the edge commands without the full `mindbridge` command's imports."""

from .commands import app

app(prog_name="mindbridge-edge")
