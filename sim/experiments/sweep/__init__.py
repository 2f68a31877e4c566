"""experiments/sweep"""
