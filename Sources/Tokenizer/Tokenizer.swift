// The Tokenizer layer; see the README's layout.
