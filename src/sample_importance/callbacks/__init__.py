"""Callbacks that are not the run's sampler callback (that lives in ``sampler/``)."""
