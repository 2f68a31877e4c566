"""Stakeholders, one module each: state as structure-of-arrays, behaviour as vectorised functions."""
