"""Build-backend integrations: the hatchling hook, the setuptools hook, and the wheel rewriting they share."""
