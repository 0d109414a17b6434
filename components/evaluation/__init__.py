"""Model evaluation: quality metrics, serving latency and the champion/challenger gate."""
