"""The ground layer: the words every other layer speaks, and nothing else.

Why: ``features``, ``engine``, ``training`` and ``serving`` all name the same
things (channels, profiles, segments, weekdays), raise the same coded errors
and read the same packaged data files. Defining them here, in a package that
imports nothing of the project, is what lets dependencies point one way
(``serving`` -> ``training`` -> ``engine`` -> ``features`` -> ``domain``; the
contracts are in ``pyproject.toml`` and ``lint-imports`` enforces them).

Modules: ``vocabulary`` (the closed sets of names), ``errors`` (errors with
codes), ``resources`` (packaged data files), ``contract`` (the typed decision
requests and answers).
"""
