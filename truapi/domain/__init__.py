"""Pure domain model: entities, value objects and errors. Standard library only."""
