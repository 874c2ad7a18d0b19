"""The analysts' policy files (data, not code).

This folder is a package only so that its YAML and JSON files ship inside the
wheel as package data (``domain.resources`` reads them); it holds no Python.
"""
