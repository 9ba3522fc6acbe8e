"""Optimizer and learning-rate schedules; milestones are given in epochs and applied per iteration."""
