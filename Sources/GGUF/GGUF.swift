// The GGUF layer; see the README's layout.
