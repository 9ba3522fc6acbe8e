"""``make bench``: wall-time benchmarks of the method and the framework (see BENCHMARKS.md)."""
