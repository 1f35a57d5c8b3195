// The Host layer; see the README's layout.
