"""The shared kernel: one way to do each thing across the incentives services."""
