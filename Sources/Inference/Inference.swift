// The Inference layer; see the README's layout.
