"""Publishable reports (HTML, PNG, SVG) rebuilt from the results database (``govsim report``)."""
