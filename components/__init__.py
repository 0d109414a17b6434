"""KFP v2 components of kfp-mlops, grouped by area (data, training, ...).

Each component folder holds ``component.py`` (the thin ``@dsl.component`` wrapper),
``core.py`` (plain-Python logic with no KFP import) and a README.
"""
