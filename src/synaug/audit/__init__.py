"""Know before you train: a per-cell audit of synthetic data (`synaug audit`), budgets that act on it
(`audit-proportional:PATH`, `audit-threshold:PATH:T` plan strategies) and a filter (`synaug filter`)."""
