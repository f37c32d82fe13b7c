"""The clinic hub: intake, storage, pathways (directive rules), triage, audit. Never imports raw-data parsers."""
