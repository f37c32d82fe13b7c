"""The on-device runtime: one patient's persisted state, daily features, verified model, sealed summaries.

Memory budget: nothing here imports pandas, scipy or scikit-learn at run time (see docs/edge.md).
"""
