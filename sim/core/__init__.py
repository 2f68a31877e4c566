"""The model's core: scenario, world, problem pool, handlers, the day's phases, compiled kernels, results."""
