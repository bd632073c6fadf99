"""Two more domain models, the 17th and the 18th, for tests/settings_extended.py only: they
prove that a model declared with its `transfer` travels (exported, imported, in an
organization's subset, verified, its files archived) with no change to datatransfer/."""
