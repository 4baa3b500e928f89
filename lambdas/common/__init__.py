"""What every handler shares: observability, AWS clients and environment parsing."""
