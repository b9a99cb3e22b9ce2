"""Plugin modules that extend the harness from outside the package (`--plugin examples.NAME`)."""
