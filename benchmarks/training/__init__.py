"""``benchmark training``: one fit under several settings (feature cache, precision, ...), paired."""
