"""Who draws the training samples: the index sampler and the strategies (callbacks) that set its weights."""
