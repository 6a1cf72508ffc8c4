"""Step-by-step parity of jaxopt_fix (and optax) against PyTorch and plain-torch references."""
