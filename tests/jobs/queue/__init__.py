"""Tests of :mod:`jobs.queue`."""
