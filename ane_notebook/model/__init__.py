"""Reading models: a Core ML file, package, MLModel, MIL program or example becomes a `Graph`
(`graph.py`), the one model form everything else works on. Also here: the example models, the
cache they and uploads are written to, and the upload handling of the explorer.
"""
