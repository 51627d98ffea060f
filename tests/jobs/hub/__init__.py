"""Tests of :mod:`jobs.hub`."""
