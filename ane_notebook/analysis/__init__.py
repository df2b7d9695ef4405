"""Analyses of a placed graph: the same-processor segments, the crossings between processors,
the repeated groups (layers, blocks) and the hazards of a split. Each reads a graph and a
placement and returns plain data; none decides where an op runs (that is `placement`).
"""
