"""mindbridge: digital biomarkers to clinical directives, with raw data kept on the device."""

__version__ = "0.1.0"
