"""Kaggle Models and Keras Hub: credentials, the REST API, kagglehub's cache and the kagglehub bridge.

Nothing here is imported by ``import hubvendor``; ``bridge`` is imported only once the application
itself has imported kagglehub (see ``hook``).
"""
