"""Experiments over the model: the process runner, comparisons, sweeps, calibration, sensitivity, docking."""
