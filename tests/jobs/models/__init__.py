"""Tests of :mod:`jobs.models`."""
