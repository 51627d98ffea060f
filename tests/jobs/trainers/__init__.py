"""Tests of :mod:`jobs.trainers`."""
