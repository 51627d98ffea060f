"""Tests of :mod:`jobs.data`."""
