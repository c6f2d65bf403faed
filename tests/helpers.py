"""Test helpers shared by several test files."""


class DiesAfter:
    """Wraps any generator and raises after `batches` batches, as a crash mid-run would. It describes
    itself as the wrapped generator, so the run's folder fingerprint is the same as a normal run's."""

    def __init__(self, inner, batches: int):
        self.inner, self.left, self.name = inner, batches, inner.name

    def cannot_draw(self, item):
        return self.inner.cannot_draw(item)

    def describe(self) -> dict:
        return self.inner.describe()

    def generate(self, items):
        if self.left == 0:
            raise RuntimeError("simulated crash")
        self.left -= 1
        return self.inner.generate(items)
