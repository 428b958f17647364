"""The benchmark: `make bench` runs bench/run.sh, which runs bench/run_bench.py (docs/performance.md)."""
