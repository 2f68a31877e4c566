"""govsim as a Mesa model: agents over the numpy core, the levers, the SolaraViz app (``govsim viz``)."""
