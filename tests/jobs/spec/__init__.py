"""Tests of :mod:`jobs.spec`."""
