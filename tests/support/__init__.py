"""Real local servers shared by tests and benchmarks."""
