"""Stage 5: data providers, point-in-time alignment, resampling and binding symbols to data slots."""
