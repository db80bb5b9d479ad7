"""The benchmark suite (`make bench`): see bench/__main__.py and BENCHMARKS.md."""
