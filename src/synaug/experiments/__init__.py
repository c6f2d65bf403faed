"""The paper's experiments as configs + one runner + aggregation over seeds."""
