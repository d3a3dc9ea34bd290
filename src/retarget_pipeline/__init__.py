"""retarget pipeline library."""
