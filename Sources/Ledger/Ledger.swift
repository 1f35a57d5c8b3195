// The Ledger layer; see the README's layout.
