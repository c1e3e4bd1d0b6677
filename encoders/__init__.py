"""Feature encoders behind one interface (issue 3 builds the registry)."""
