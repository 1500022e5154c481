"""The authorization model: resources, ACLs, default ACLs and the pure decision engine."""
