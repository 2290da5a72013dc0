"""Celery side of intake: the app, its queues and beat schedule, and thin tasks."""
