"""Digital biomarkers: one module per family, each a pure function from series to a daily feature table."""
