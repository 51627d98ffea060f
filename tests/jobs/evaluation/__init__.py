"""Tests of :mod:`jobs.evaluation`."""
