"""Dict-backed repositories and unit of work: for tests, and for a database-free process."""
