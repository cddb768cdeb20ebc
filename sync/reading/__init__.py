"""What a run reads besides everything: the slice of both sides that a set of changes names."""
