"""Business rules: the only layer that decides what a send, a user or a delivery is."""
