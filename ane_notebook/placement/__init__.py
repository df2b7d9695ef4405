"""Placement: where each op of a `Graph` runs and why, from one of three sources (Core ML live,
the estimate from rules and costs, or a plan recorded on a Mac), all returning one `Placement`
(`result.py`) whose source, reasons and evidence say what kind of answer it is.
"""
