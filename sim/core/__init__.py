"""The core model: the world, agents' state, problems, handlers, the compiled kernels and the day's phases."""
