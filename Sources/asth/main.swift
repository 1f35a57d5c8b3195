// The asth command-line interface.
print("asth: not yet")
