"""Tests of :mod:`jobs.inference`."""
