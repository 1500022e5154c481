"""Redis adapters: state and fan-out shared by every instance."""
