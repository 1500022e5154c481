"""Authorization use cases: checks, resources, ACLs and default ACLs."""
