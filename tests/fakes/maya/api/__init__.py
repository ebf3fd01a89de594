"""Fake ``maya.api`` (Maya Python API 2.0): only ``OpenMaya``."""
