"""Red-teaming for text-to-image guards: suites, mutators, adaptive search, targets and reports."""
