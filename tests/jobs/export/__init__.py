"""Tests of :mod:`jobs.export`."""
