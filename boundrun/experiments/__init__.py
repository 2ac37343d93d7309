"""One package per paper, named after its experiment. Each registers itself with `@experiment`."""
