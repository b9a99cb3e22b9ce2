"""pytest-benchmark suites for the Mainrun model and components, and `render` for BENCHMARKS.md."""
