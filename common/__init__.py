"""Small utilities every part of orchard shares: errors, atomic writes, machine description."""
