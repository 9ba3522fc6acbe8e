"""Datasets return (image, label, index); the index is the join key for every per-sample value."""
