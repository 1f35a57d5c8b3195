// The Personas layer; see the README's layout.
