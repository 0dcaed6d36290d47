"""crmkit benchmarks: `make bench` (python -m benchmarks) runs them and rewrites RESULTS.md."""
