"""`make bench`: this package's performance as ratios against anchors measured in the same run.

Run `python -m benchmarks` (`--help` for options); results go to benchmarks/RESULTS.md.
"""
