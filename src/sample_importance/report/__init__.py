"""``python -m sample_importance.report PATH [PATH ...]``: the paper's tables and figures from run folders.

runs.py finds and reads runs; groups.py groups them by config minus seed and picks each set's
baseline; metrics.py holds the formulas; analysis.py applies them; figures.py, images.py and
markdown.py write the output; build.py ties them together; __main__.py is the command line.
"""
