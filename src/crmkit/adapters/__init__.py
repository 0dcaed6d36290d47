"""Adapters: crmkit over real storage and engines.

Each adapter is its own module, imported on demand, so that ``import crmkit``
stays light and optional dependencies are needed only by the adapter that uses
them:

* :mod:`crmkit.adapters.sqlite`: customers, contacts and activities in an
  SQLite file (standard library only).

This package imports none of them.
"""
