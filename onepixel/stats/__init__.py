"""Statistics and the paper's reported values: intervals, tests, the comparison with the paper, the
interval simulation and the geometric statistics (pandas and numpy; no torch)."""
