"""Sweeps: a file's spec (spec), its factors and design (factors, design), and running it (run, work)."""
