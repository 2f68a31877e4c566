"""``govsim bench``: speed and memory of standard cases, measured in processes of their own."""
