"""Who draws the training samples: the run's one IndexSampler and the sampler callbacks that steer it
(``base.py``); the paper's method is ``method.py``, switched on at epoch E by ``importance.py``."""
