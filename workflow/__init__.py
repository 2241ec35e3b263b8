"""A ready-made pipeline: lab/subject/session tables plus the element_calcium schemas."""
