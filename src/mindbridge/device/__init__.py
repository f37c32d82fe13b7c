"""The patient's device app: reads raw exports (sources) and runs the edge engine from the terminal.

Kept apart from `edge/` so the engine itself never imports the raw-data readers (DESIGN.md).
"""
