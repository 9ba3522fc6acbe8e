"""Callbacks that are not a sampling strategy (those live in ``sampler/``)."""
